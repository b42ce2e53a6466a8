import Config
import Consensus
import Crypto
import Foundation
import IdentityModel

/// The members of a static cluster and their Raft node IDs, from `server { cluster { … } }`.
///
/// Every member's configuration lists the same members (itself as `node_name`, the others as
/// `peers`). Node IDs come from the member names sorted by their UTF-8 bytes: the first is 1,
/// the next 2, and so on, so every server derives the same IDs without talking to the others.
/// Two safeguards hold that precondition:
/// - every cluster message carries the sender's `fingerprint` (SHA-256 of the sorted names);
///   a member whose list differs is refused, so servers that disagree on IDs never step each
///   other's messages;
/// - the member list is recorded in the data directory when the log is created and compared
///   at every start: IDs must never change under an existing log (Raft never reuses an ID).
///
/// Members added later (`cluster join`) take IDs above the bootstrap ones, assigned through the
/// log (`MemberRegistry`), so this mapping only ever describes the bootstrap voters, and its
/// fingerprint is the cluster's identity for its whole life.
public struct ClusterMembership: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        public var name: NodeName
        public var id: NodeID
        /// `host:port` of its TLS listener; nil for this server.
        public var address: PeerAddress?
    }

    /// Sorted by name; `members[i].id == i + 1`.
    public let members: [Member]
    public let selfID: NodeID
    public let fingerprint: [UInt8]

    public struct MembershipError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(nodeName: String, peers: [(name: String, address: String)]) throws {
        var entries: [(NodeName, PeerAddress?)] = [(try NodeName(nodeName), nil)]
        for peer in peers {
            entries.append((try NodeName(peer.name), try PeerAddress(parsing: peer.address)))
        }
        guard Set(entries.map(\.0)).count == entries.count else {
            throw MembershipError(description: "cluster member names must be unique")
        }
        guard entries.count <= Consensus.Limits.votersMax else {
            throw MembershipError(description: "a cluster has at most \(Consensus.Limits.votersMax) members")
        }
        entries.sort { Array($0.0.rawValue.utf8).lexicographicallyPrecedes(Array($1.0.rawValue.utf8)) }
        members = entries.enumerated().map { pair in Member(name: pair.element.0, id: NodeID(pair.offset + 1), address: pair.element.1) }
        let own = members.filter { $0.address == nil }
        precondition(own.count == 1, "exactly one member is this server")
        selfID = own[0].id
        fingerprint = Self.fingerprint(of: members.map(\.name))
        precondition(members.enumerated().allSatisfy { $0.element.id == NodeID($0.offset + 1) }, "node IDs follow the sorted names")
    }

    public init(_ cluster: ServerConfig.Cluster) throws {
        try self.init(nodeName: cluster.nodeName, peers: cluster.peers.map { ($0.name, $0.address) })
    }

    public var selfName: NodeName { members[Int(selfID) - 1].name }
    public var voters: [NodeID] { members.map(\.id) }
    public var peers: [Member] { members.filter { $0.id != selfID } }

    public func member(_ id: NodeID) -> Member? {
        guard id >= 1, id <= members.count else { return nil }
        return members[Int(id) - 1]
    }

    public func member(named name: String) -> Member? {
        members.first { $0.name.rawValue == name }
    }

    static func fingerprint(of names: [NodeName]) -> [UInt8] {
        let text = "lineage-cluster-members-v1\n" + names.map(\.rawValue).joined(separator: "\n")
        return Array(SHA256.hash(data: Array(text.utf8)))
    }

    /// What the data directory records: one member name per line, in ID order.
    var recorded: String { members.map(\.name.rawValue).joined(separator: "\n") + "\n" }

    /// Records the members beside a new log, or checks an existing log was made for the same
    /// members. A log made by a single server (no record) cannot become a cluster's yet.
    public func checkRecorded(dataDir: String, logIsEmpty: Bool) throws {
        let path = DataDirectory.clusterMembers(dataDir)
        if let existing = FileManager.default.contents(atPath: path) {
            let text = String(decoding: existing.prefix(64 * 1024), as: UTF8.self)
            guard text == recorded else {
                let was = text.split(separator: "\n").joined(separator: ", ")
                throw MembershipError(description: """
                    the log in \(dataDir) belongs to a cluster of [\(was)], but the configuration names \
                    [\(members.map(\.name.rawValue).joined(separator: ", "))]; the bootstrap members of a cluster never change \
                    (add and remove members with `lineage-server cluster join|leave`)
                    """)
            }
            return
        }
        guard logIsEmpty else {
            throw MembershipError(description: """
                the log in \(dataDir) was created by a single server; turning it into a cluster is not built yet \
                (start the cluster with empty data directories)
                """)
        }
        try Data(recorded.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Refuses to start a single server over a cluster member's log: its node ID and voters
    /// would not match the log's.
    public static func checkNotClusterLog(dataDir: String) throws {
        guard !FileManager.default.fileExists(atPath: DataDirectory.clusterMembers(dataDir)) else {
            throw MembershipError(description: """
                the log in \(dataDir) belongs to a cluster; configure server.cluster with its members to start it
                """)
        }
    }
}

/// `host:port` of a peer's TLS listener; IPv6 hosts in brackets.
public struct PeerAddress: Sendable, Hashable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(parsing text: String) throws {
        let failure = ClusterMembership.MembershipError(description: "peer address \"\(text)\" is not host:port")
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65_535).contains(port) else { throw failure }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, host.count <= 253 else { throw failure }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
