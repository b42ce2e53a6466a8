import Agent
import ArgumentParser
import CLISupport
import Foundation
import GRPCCore
import Synchronization
import Wire

/// `lineage-agent api …`: SPIRE's Workload API client commands.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Talks to the Workload API",
        subcommands: [FetchCommand.self, WatchCommand.self, ValidateGroup.self])
}

/// Options shared by the `api` commands.
struct SocketOptions: ParsableArguments {
    @Option(name: .customLong("socketPath", withSingleDash: true), help: "Path to the SPIFFE Workload API socket")
    var socketPath = "/tmp/lineage-agent/public/api.sock"
    @Option(name: .customLong("timeout", withSingleDash: true), help: "Time to wait for a response, in seconds")
    var timeoutSeconds = 5

    var client: WorkloadAPIClient { WorkloadAPIClient(socketPath: socketPath, timeout: .seconds(max(1, timeoutSeconds))) }
}

enum OutputFormat: String, ExpressibleByArgument {
    case pretty, json
}

/// Runs a client call and turns failures into SPIRE's "rpc error" line and exit code 1.
func runCLI(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as RPCError {
        printError("rpc error: code = \(error.code) desc = \(error.message)")
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("Error: \(error)")
        throw ExitCode(1)
    }
}

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch", abstract: "Fetches SVIDs from the Workload API",
        subcommands: [FetchX509Command.self, FetchJWTCommand.self], defaultSubcommand: FetchX509Command.self)
}

struct FetchX509Command: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "x509", abstract: "Fetches X509 SVIDs from the Workload API")

    @OptionGroup var socket: SocketOptions
    @Option(name: .customLong("write", withSingleDash: true), help: "Write SVID data to the specified path")
    var write: String?
    @Flag(name: .customLong("silent", withSingleDash: true), help: "Suppress stdout")
    var silent = false
    @Option(name: .customLong("output", withSingleDash: true), help: "pretty or json")
    var output = OutputFormat.pretty

    func run() async throws {
        try await runCLI {
            let start = ContinuousClock.now
            let response = try await socket.client.fetchX509()
            let elapsed = ContinuousClock.now - start
            try await WorkloadAPIText.verify(response)
            switch output {
            case .json: print(try WorkloadAPIText.json(response), terminator: "")
            case .pretty:
                if !silent { print(try WorkloadAPIText.x509(response, after: elapsed), terminator: "") }
                if let write { print(try WorkloadAPIText.write(response, to: write), terminator: "") }
            }
        }
    }
}

struct FetchJWTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jwt", abstract: "Fetches a JWT SVID from the Workload API")

    @OptionGroup var socket: SocketOptions
    @Option(name: .customLong("audience", withSingleDash: true), help: "Comma-separated list of audience values")
    var audience: String
    @Option(name: .customLong("spiffeID", withSingleDash: true), help: "SPIFFE ID subject (optional)")
    var spiffeID: String?
    @Option(name: .customLong("output", withSingleDash: true), help: "pretty or json")
    var output = OutputFormat.pretty

    func run() async throws {
        let audiences = audience.split(separator: ",").map(String.init).filter { !$0.isEmpty }
        guard !audiences.isEmpty else {
            printError("audience must be specified")
            throw ExitCode(1)
        }
        try await runCLI {
            let (svids, bundles) = try await socket.client.fetchJWT(audience: audiences, spiffeID: spiffeID)
            switch output {
            case .json: print(try WorkloadAPIText.json(svids) + WorkloadAPIText.json(bundles), terminator: "")
            case .pretty: print(WorkloadAPIText.jwt(svids, bundles: bundles), terminator: "")
            }
        }
    }
}

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "watch", abstract: "Attaches to the Workload API and prints updates")

    @OptionGroup var socket: SocketOptions

    func run() async throws {
        try await runCLI {
            let start = Mutex(ContinuousClock.now)
            try await WorkloadAPIClient(socketPath: socket.socketPath).watchX509 { response in
                let elapsed = start.withLock { start in
                    defer { start = ContinuousClock.now }
                    return ContinuousClock.now - start
                }
                // Written unbuffered: watch output is followed live, often through a pipe.
                FileHandle.standardOutput.write(Data(try WorkloadAPIText.x509(response, after: elapsed).utf8))
            }
        }
    }
}

struct ValidateGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Validates SVIDs through the Workload API", subcommands: [ValidateJWTCommand.self])
}

struct ValidateJWTCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "jwt", abstract: "Validates a JWT SVID")

    @OptionGroup var socket: SocketOptions
    @Option(name: .customLong("audience", withSingleDash: true), help: "Audience value")
    var audience: String
    @Option(name: .customLong("svid", withSingleDash: true), help: "JWT SVID")
    var svid: String
    @Option(name: .customLong("output", withSingleDash: true), help: "pretty or json")
    var output = OutputFormat.pretty

    func run() async throws {
        try await runCLI {
            let response = try await socket.client.validateJWT(audience: audience, token: svid)
            switch output {
            case .json: print(try WorkloadAPIText.json(response), terminator: "")
            case .pretty: print(try WorkloadAPIText.validated(response), terminator: "")
            }
        }
    }
}
