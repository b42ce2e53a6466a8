import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Wire

/// `-socketPath`: where the server's admin API listens (SPIRE's flag, Lineage's default path).
public struct SocketOption: ParsableArguments, Sendable {
    public static let defaultSocketPath = "/tmp/lineage-server/private/api.sock"

    @Option(
        name: .customLong("socketPath", withSingleDash: true), parsing: .unconditional,
        help: "Path to the Lineage Server API socket")
    public var socketPath = SocketOption.defaultSocketPath

    public init() {}
}

/// The server's admin API over its Unix socket: SPIRE's server API services plus gRPC health.
///
/// The connection is opened lazily by grpc-swift; each accessor first checks that the socket
/// exists, so flag validation errors win over a missing server (as in SPIRE, whose dial is lazy)
/// and a missing socket gives grpc-go's message naming the path rather than a generic failure.
struct ServerAPI: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix

    let socketPath: String
    let client: GRPCClient<Transport>

    var callOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = Limits.callTimeout
        return options
    }

    func entry() throws -> Spire_Api_Server_Entry_V1_Entry.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    func agent() throws -> Spire_Api_Server_Agent_V1_Agent.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    func bundle() throws -> Spire_Api_Server_Bundle_V1_Bundle.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    func svid() throws -> Spire_Api_Server_Svid_V1_SVID.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    func localAuthority() throws -> Spire_Api_Server_Localauthority_V1_LocalAuthority.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    func health() throws -> Grpc_Health_V1_Health.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }

    /// grpc-go's wording for a dial to a missing socket, so scripts written for SPIRE match.
    func checkSocket() throws(RPCError) {
        guard access(socketPath, F_OK) != 0 else { return }
        let reason = String(cString: strerror(errno))
        throw RPCError(
            code: .unavailable,
            message: "connection error: desc = \"transport: Error while dialing: dial unix \(socketPath): connect: \(reason.lowercased())\"")
    }

    /// Opens a client on `socketPath` for the duration of `body`.
    static func withConnection<Result: Sendable>(
        socketPath: String, _ body: (ServerAPI) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { client in
            try await body(ServerAPI(socketPath: socketPath, client: client))
        }
    }
}

/// A verb that talks to the server: `execute` does the work and prints into a `Console`;
/// `run()` (the ArgumentParser entry point) connects, runs it, prints, and exits 1 on failure.
protocol ServerCommand: AsyncParsableCommand {
    var socket: SocketOption { get }
    func execute(_ api: ServerAPI, _ console: Console) async throws
}

extension ServerCommand {
    /// Runs the command against the server at `-socketPath` and returns what it printed.
    func report() async -> Console {
        let console = Console()
        do {
            try await ServerAPI.withConnection(socketPath: socket.socketPath) { api in
                try await execute(api, console)
            }
        } catch {
            console.fail(error)
        }
        return console
    }

    func run() async throws {
        let console = await report()
        console.emit()
        if console.failure != nil { throw ExitCode(1) }
    }
}

/// The verbs this module adds to `lineage-server`, for the executable's `subcommands`.
public enum AdminCommands {
    public static let all: [any ParsableCommand.Type] = [
        EntryCommand.self, TokenCommand.self, BundleCommand.self, AgentCommand.self, X509Command.self,
        JWTCommand.self, LocalAuthorityCommand.self, HealthcheckCommand.self, ClusterCommand.self,
    ]
}
