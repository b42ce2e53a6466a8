import Agent
import ArgumentParser
import CLISupport
import Wire

/// `lineage-agent healthcheck [-shallow] [-socketPath] [-verbose]`: the gRPC health service on
/// the workload socket must report SERVING (SPIRE's agent healthcheck). `-shallow` is accepted
/// for SPIRE compatibility; the agent's health is already shallow (the endpoint only starts
/// once the agent has synced).
struct HealthcheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "healthcheck", abstract: "Determines agent health status")

    @Option(name: .customLong("socketPath", withSingleDash: true), help: "Path to the Agent API socket")
    var socketPath = "/tmp/lineage-agent/public/api.sock"
    @Flag(name: .customLong("shallow", withSingleDash: true), help: "Perform a less stringent health check")
    var shallow = false
    @Flag(name: .customLong("verbose", withSingleDash: true), help: "Print verbose information")
    var verbose = false

    func run() async throws {
        if verbose { print("Checking agent health...") }
        do {
            let status = try await WorkloadAPIClient(socketPath: socketPath, timeout: .seconds(5)).health()
            guard status == .serving else {
                printError("Agent is unhealthy: agent returned status \"\(status)\"")
                throw ExitCode(1)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            if verbose { printError("Failed to check health: \(error)") }
            printError("Agent is unhealthy: unable to determine health")
            throw ExitCode(1)
        }
        print("Agent is healthy.")
    }
}
