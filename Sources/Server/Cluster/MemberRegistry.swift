import Consensus
import Foundation
import IdentityModel
import Logging
import Synchronization

/// Every member a cluster's log has named: node ID ↔ name ↔ address, and whether it was removed.
///
/// The bootstrap members (IDs 1…n, from the sorted names of the static configuration) are known
/// from the start. Members added by `cluster join` get the next ID above every ID this server
/// has seen (never reused), chosen by the leader and recorded in the log: the configuration
/// change that adds or removes a voter carries a `Record` in its context, and every member learns
/// it when it appends that entry (`learn`), before the core can address the new node.
///
/// The registry is written to `data_dir/cluster-registry.json` before the entry that taught it
/// is made durable, so after a crash the file knows at least what the log holds. An entry a
/// conflicting append truncates may leave a member here that is no voter; that is harmless
/// (the core never addresses it) and its ID is not handed out again.
///
/// The cluster's identity is the fingerprint of the bootstrap member names. It never changes,
/// so members that joined later carry the same identity as the bootstrap ones.
public final class MemberRegistry: Sendable {
    public struct Member: Sendable, Hashable, Codable {
        public var id: NodeID
        public var name: String
        /// `host:port` of its TLS listener; nil when this server does not know it.
        public var address: String?
        public var removed: Bool
    }

    /// What a configuration change's context carries, as JSON.
    struct Record: Codable, Hashable {
        var name: String
        var address: String?

        func encoded() -> [UInt8] {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            // Cannot fail: two strings.
            return Array(try! encoder.encode(self))
        }

        init(name: String, address: String?) {
            self.name = name
            self.address = address
        }

        init?(decoding bytes: [UInt8]) {
            guard !bytes.isEmpty, let record = try? JSONDecoder().decode(Record.self, from: Data(bytes)) else { return nil }
            self = record
        }
    }

    /// The file's layout.
    private struct Stored: Codable {
        var version = 1
        var selfID: NodeID
        var selfName: String
        var bootstrap: [String]
        var members: [Member]
    }

    public struct RegistryError: Error, CustomStringConvertible {
        public let description: String
    }

    private struct State {
        var members: [NodeID: Member]
        var selfRemoved = false
    }

    /// The bootstrap member names in ID order (ID = position + 1).
    public let bootstrapNames: [String]
    /// SHA-256 of the bootstrap names (`ClusterMembership.fingerprint`).
    public let identity: [UInt8]
    public let selfID: NodeID
    public let selfName: NodeName
    private let path: String
    private let state: Mutex<State>
    /// Told of every member with an address this registry learns (the transport dials it).
    private let listener = Mutex<(@Sendable (Member) -> Void)?>(nil)
    private let logger: Logger

    public var bootstrapVoters: [NodeID] { (1...UInt64(bootstrapNames.count)).map { $0 } }

    /// A bootstrap member: the static configuration, plus what earlier runs learned from the log.
    public init(bootstrap membership: ClusterMembership, selfAddress: String?, dataDir: String, logger: Logger) throws {
        bootstrapNames = membership.members.map(\.name.rawValue)
        identity = membership.fingerprint
        selfID = membership.selfID
        selfName = membership.selfName
        path = DataDirectory.clusterRegistry(dataDir)
        self.logger = logger
        var members: [NodeID: Member] = [:]
        for member in membership.members {
            members[member.id] = Member(
                id: member.id, name: member.name.rawValue,
                address: member.id == membership.selfID ? selfAddress : member.address?.description, removed: false)
        }
        if let stored = try Self.load(path) {
            guard stored.bootstrap == bootstrapNames, stored.selfID == selfID else {
                throw RegistryError(description: """
                    \(path) records the cluster of [\(stored.bootstrap.joined(separator: ", "))] with this server as node \
                    \(stored.selfID), but the configuration makes it node \(selfID) of [\(bootstrapNames.joined(separator: ", "))]
                    """)
            }
            for member in stored.members {
                if var known = members[member.id] {
                    // The configuration's address wins: an operator may have moved a peer.
                    known.removed = member.removed
                    members[member.id] = known
                } else {
                    members[member.id] = member
                }
            }
        }
        state = Mutex(State(members: members))
    }

    /// A member that joined a running cluster: everything comes from the file its join wrote.
    public init(joinedIn dataDir: String, nodeName: String, logger: Logger) throws {
        path = DataDirectory.clusterRegistry(dataDir)
        self.logger = logger
        guard let stored = try Self.load(path) else {
            throw RegistryError(description: "\(dataDir) holds no cluster membership; run `lineage-server cluster join` first")
        }
        guard stored.selfName == nodeName else {
            throw RegistryError(description: "\(path) belongs to member \(stored.selfName), but node_name is \(nodeName)")
        }
        bootstrapNames = stored.bootstrap
        identity = ClusterMembership.fingerprint(of: try stored.bootstrap.map { try NodeName($0) })
        selfID = stored.selfID
        selfName = try NodeName(stored.selfName)
        state = Mutex(State(members: Dictionary(uniqueKeysWithValues: stored.members.map { ($0.id, $0) })))
    }

    /// Whether `dataDir` holds the record of a completed join.
    public static func isJoined(dataDir: String) -> Bool {
        FileManager.default.fileExists(atPath: DataDirectory.clusterRegistry(dataDir))
    }

    /// Writes what a join answered, before the joined server opens its log.
    static func recordJoin(
        dataDir: String, selfID: NodeID, selfName: String, bootstrap: [String], members: [Member]
    ) throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try write(Stored(selfID: selfID, selfName: selfName, bootstrap: bootstrap, members: members), to: DataDirectory.clusterRegistry(dataDir))
        // A single server started over this directory is refused (`checkNotClusterLog`).
        try Data((bootstrap.joined(separator: "\n") + "\n").utf8)
            .write(to: URL(fileURLWithPath: DataDirectory.clusterMembers(dataDir)), options: .atomic)
    }

    private static func load(_ path: String) throws -> Stored? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard data.count <= 1 << 20 else { throw RegistryError(description: "\(path) is larger than 1 MiB") }
        do {
            return try JSONDecoder().decode(Stored.self, from: data)
        } catch {
            throw RegistryError(description: "\(path) does not decode: \(error)")
        }
    }

    private static func write(_ stored: Stored, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(stored).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    // MARK: - Queries

    public var members: [Member] { state.withLock { $0.members.values.sorted { $0.id < $1.id } } }

    public func member(_ id: NodeID) -> Member? { state.withLock { $0.members[id] } }

    /// The member now called `name`: the one with the highest ID, as a name may come back
    /// under a new ID after it was removed.
    public func member(named name: String) -> Member? {
        state.withLock { state in state.members.values.filter { $0.name == name }.max { $0.id < $1.id } }
    }

    public func name(of id: NodeID) -> String? { member(id)?.name }

    /// The ID the next joining member gets: above every ID this server has seen.
    public func nextID() -> NodeID {
        state.withLock { state in max(state.members.keys.max() ?? 0, UInt64(bootstrapNames.count)) + 1 }
    }

    public var selfRemoved: Bool { state.withLock { $0.selfRemoved } }

    /// Marks this server removed; returns true the first time (the caller logs it once).
    @discardableResult
    public func markSelfRemoved() -> Bool {
        state.withLock { state in
            defer { state.selfRemoved = true }
            return !state.selfRemoved
        }
    }

    /// Calls `body` for every member with an address, now and whenever one is learned.
    func onMember(_ body: @escaping @Sendable (Member) -> Void) {
        listener.withLock { $0 = body }
        for member in members where member.address != nil { body(member) }
    }

    // MARK: - Learning from the log

    /// What the driver appended: records each change's member, then persists. Changes without
    /// a record (none are written so) change nothing here.
    func learn(_ changes: [ConfigurationChange]) {
        var learned: [Member] = []
        let snapshot = state.withLock { state -> [Member] in
            for change in changes {
                guard let record = Record(decoding: change.context) else { continue }
                switch change.kind {
                case .addVoter:
                    let member = Member(id: change.node, name: record.name, address: record.address, removed: false)
                    if state.members[change.node] != member {
                        state.members[change.node] = member
                        learned.append(member)
                    }
                case .removeVoter:
                    var member = state.members[change.node]
                        ?? Member(id: change.node, name: record.name, address: nil, removed: true)
                    member.removed = true
                    state.members[change.node] = member
                }
            }
            return state.members.values.sorted { $0.id < $1.id }
        }
        do {
            try Self.write(
                Stored(selfID: selfID, selfName: selfName.rawValue, bootstrap: bootstrapNames, members: snapshot), to: path)
        } catch {
            // The log is the source of truth and is replayed into a fresh member; the file only
            // spares a restart from needing the peers' addresses. Say so loudly and go on.
            logger.error("Cannot record the cluster members", metadata: ["path": "\(path)", "error": "\(error)"])
        }
        let notify = listener.withLock { $0 }
        for member in learned {
            logger.info("Cluster member recorded", metadata: [
                "node_name": "\(member.name)", "node_id": "\(member.id)", "address": "\(member.address ?? "unknown")",
            ])
            if member.address != nil { notify?(member) }
        }
    }
}
