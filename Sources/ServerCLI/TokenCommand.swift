import ArgumentParser
import Wire

/// `lineage-server token generate`.
public struct TokenCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Generates join tokens", subcommands: [TokenGenerate.self])

    public init() {}
}

/// `token generate [-spiffeID ID] [-ttl SECONDS]`: CreateJoinToken. As in SPIRE, the CLI sends
/// `agent_id` and the server, not the CLI, creates the node alias entry (parent
/// `spiffe://<td>/spire/agent/join_token/<token>`, no selectors) when it is set.
struct TokenGenerate: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "generate", abstract: "Generates a join token")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("spiffeID"), parsing: .unconditional,
            help: "Additional SPIFFE ID to assign the token owner (optional)")
    var spiffeID = ""
    @Option(name: .go("ttl"), parsing: .unconditional, help: "Token TTL in seconds")
    var ttl = 600
    @OptionGroup var output: OutputOption

    func request() throws(CLIFailure) -> Spire_Api_Server_Agent_V1_CreateJoinTokenRequest {
        var request = Spire_Api_Server_Agent_V1_CreateJoinTokenRequest()
        if !spiffeID.isEmpty { request.agentID = try FlagValues.spiffeID(spiffeID) }
        request.ttl = try FlagValues.int32(ttl, "TTL")
        return request
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try request()
        let token = try await api.agent().createJoinToken(request, options: api.callOptions)
        try output.print(token, to: console) { token, console in
            console.write("Token: \(token.value)\n")
            if spiffeID.isEmpty { console.write("Warning: Missing SPIFFE ID.\n") }
        }
    }
}
