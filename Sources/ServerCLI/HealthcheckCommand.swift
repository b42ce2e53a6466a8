import ArgumentParser
import Wire

/// `healthcheck`: grpc.health.v1 Check over the admin socket, worded as SPIRE's.
struct HealthcheckCommand: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "healthcheck", abstract: "Determines server health status")

    @OptionGroup var socket: SocketOption
    @Flag(name: .go("shallow"), help: "Perform a less stringent health check")
    var shallow = false
    @Flag(name: .go("verbose"), help: "Print verbose information")
    var verbose = false

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        do {
            try await check(api, console)
        } catch {
            throw CLIFailure("server is unhealthy", wrapping: error)
        }
        console.line("Server is healthy.")
    }

    private func check(_ api: ServerAPI, _ console: Console) async throws {
        if verbose { console.line("Checking server health...") }
        let response: Grpc_Health_V1_HealthCheckResponse
        do {
            response = try await api.health().check(Grpc_Health_V1_HealthCheckRequest(), options: api.callOptions)
        } catch {
            if verbose { console.writeError("Failed to check health: \(CLIFailure.describe(error))\n") }
            throw CLIFailure("unable to determine health")
        }
        if response.status != .serving {
            throw CLIFailure("server returned status \(GoFormat.quoted(Self.goName(response.status)))")
        }
    }

    /// grpc-go's names for the serving status enum.
    static func goName(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> String {
        switch status {
        case .unknown: "UNKNOWN"
        case .serving: "SERVING"
        case .notServing: "NOT_SERVING"
        case .serviceUnknown: "SERVICE_UNKNOWN"
        case .UNRECOGNIZED(let value): String(value)
        }
    }
}
