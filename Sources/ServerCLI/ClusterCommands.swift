import ArgumentParser
import Foundation
import Wire

/// `lineage-server cluster …`: Lineage's own verbs for a replicated cluster (SPIRE has none;
/// the text follows the style of its other verbs).
public struct ClusterCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Shows and changes the members of a server cluster",
        subcommands: [ClusterStatus.self, ClusterJoin.self, ClusterLeave.self])

    public init() {}
}

extension ServerAPI {
    func clusterAdmin() throws -> Lineage_Api_V1_ClusterAdmin.Client<Transport> {
        try checkSocket()
        return .init(wrapping: client)
    }
}

enum ClusterText {
    static func printStatus(_ status: Lineage_Api_V1_ClusterStatusResponse, to console: Console) {
        if status.role == "waiting-to-join" {
            console.line("Server \(status.nodeName) is waiting to join a cluster (lineage-server cluster join -address host:port)")
            return
        }
        let leader = status.leaderID == 0 ? "none" : "\(status.leaderName) (node \(status.leaderID))"
        console.line("Node name         : \(status.nodeName)")
        console.line("Node ID           : \(status.nodeID)")
        console.line("Role              : \(status.role)")
        console.line("Leader            : \(leader)")
        console.line("Term              : \(status.term)")
        console.line("Commit index      : \(status.commitIndex)")
        console.line("Applied index     : \(status.appliedIndex)")
        if status.firstIndex > 1 { console.line("First log index   : \(status.firstIndex)") }
        console.line("Cluster identity  : \(status.clusterIdentity)")
        console.line()
        console.line("Found \(status.members.count) \(GoFormat.plural(status.members.count, "member", "members")):")
        console.line()
        for member in status.members {
            var flags: [String] = []
            if member.self_p { flags.append("this server") }
            if member.leader { flags.append("leader") }
            console.line("Node ID           : \(member.nodeID)" + (flags.isEmpty ? "" : " (\(flags.joined(separator: ", ")))"))
            console.line("Name              : \(member.name.isEmpty ? "unknown" : member.name)")
            console.line("Address           : \(member.address.isEmpty ? "unknown" : member.address)")
            console.line("Voter             : \(member.voter)")
            if member.hasProgress_p {
                console.line("Match index       : \(member.matchIndex)")
                console.line("Next index        : \(member.nextIndex)")
                console.line("Replication       : \(member.replicationState)")
                console.line("Recently active   : \(member.recentlyActive)")
            }
            console.line()
        }
    }
}

/// `cluster status`: leader, term, indexes, and the members (with replication progress when
/// asked on the leader).
struct ClusterStatus: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Shows the cluster as this server sees it")

    @OptionGroup var socket: SocketOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let response = try await api.clusterAdmin().status(Lineage_Api_V1_ClusterStatusRequest(), options: api.callOptions)
        try output.print(response, to: console) { response, console in ClusterText.printStatus(response, to: console) }
    }
}

/// `cluster join -address host:port`: asks the server at `-socketPath` (started with
/// `cluster { join = true }`) to join the cluster a member of which listens at `-address`.
struct ClusterJoin: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "join", abstract: "Makes the server at -socketPath join the cluster of the member at -address")

    @OptionGroup var socket: SocketOption
    @Option(name: .customLong("address", withSingleDash: true), parsing: .unconditional,
            help: "host:port of a cluster member's TLS listener")
    var address = ""
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        guard !address.isEmpty else { throw CLIFailure("an address is required (-address host:port)") }
        var request = Lineage_Api_V1_ClusterJoinRequest()
        request.address = address
        let response = try await api.clusterAdmin().join(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in
            console.line("Joined the cluster of [\(response.bootstrapMembers.joined(separator: ", "))] as node \(response.nodeID)")
            if !response.note.isEmpty { console.line("Note: \(response.note)") }
        }
    }
}

/// `cluster leave -name NAME`: removes a member (the leader hands over first when it is the one).
struct ClusterLeave: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "leave", abstract: "Removes a member from the cluster")

    @OptionGroup var socket: SocketOption
    @Option(name: .customLong("name", withSingleDash: true), parsing: .unconditional, help: "The node name of the member to remove")
    var name = ""
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        guard !name.isEmpty else { throw CLIFailure("a member name is required (-name)") }
        var request = Lineage_Api_V1_ClusterLeaveRequest()
        request.name = name
        let response = try await api.clusterAdmin().leave(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in
            console.line("Removed \(name) (node \(response.nodeID)) from the cluster at index \(response.index)")
        }
    }
}
