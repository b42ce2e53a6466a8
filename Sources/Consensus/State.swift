/// The state Raft must persist before it answers anyone: the current term, the vote cast in
/// that term, and the commit index (the commit index is an optimisation and may lag on disk).
public struct HardState: Sendable, Hashable, CustomStringConvertible {
    public var term: Term
    public var vote: NodeID
    public var commit: LogIndex

    public init(term: Term = 0, vote: NodeID = noNode, commit: LogIndex = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    public static let empty = HardState()

    public var isEmpty: Bool { self == .empty }

    public var description: String { "term=\(term) vote=\(vote) commit=\(commit)" }
}

/// The role a server currently plays.
public enum Role: UInt8, Sendable, Hashable {
    case follower
    case preCandidate
    case candidate
    case leader
}

/// Volatile state that is useful to the driver (logging, routing) but never persisted.
public struct SoftState: Sendable, Hashable {
    public var leader: NodeID
    public var role: Role

    public init(leader: NodeID, role: Role) {
        self.leader = leader
        self.role = role
    }
}

/// The voting membership of the cluster. Learners are out of scope for this version.
public struct ConfigurationState: Sendable, Hashable, CustomStringConvertible {
    /// Sorted, duplicate-free IDs of the voters.
    public private(set) var voters: [NodeID]

    public init(voters: some Sequence<NodeID>) {
        self.voters = Array(Set(voters)).sorted()
        precondition(!self.voters.contains(noNode), "node ID 0 is reserved")
    }

    public static let empty = ConfigurationState(voters: [])

    public func contains(_ node: NodeID) -> Bool { voters.contains(node) }

    /// The number of votes that makes a majority of this configuration.
    public var quorum: Int { voters.count / 2 + 1 }

    /// Returns this configuration with `change` applied.
    public func applying(_ change: ConfigurationChange) -> ConfigurationState {
        switch change.kind {
        case .addVoter: return ConfigurationState(voters: voters + [change.node])
        case .removeVoter: return ConfigurationState(voters: voters.filter { $0 != change.node })
        }
    }

    public var description: String { "voters=\(voters)" }
}

/// A single-server membership change (Ongaro's thesis, §4.2 and §4.3).
public struct ConfigurationChange: Sendable, Hashable {
    public enum Kind: UInt8, Sendable, Hashable {
        case addVoter = 1
        case removeVoter = 2
    }

    public var kind: Kind
    public var node: NodeID
    /// Opaque to the core and carried in the entry beside the change, like etcd's
    /// `ConfChange.Context`: the server records who the node is (name, address) with it, so
    /// every member learns that from the log. At most `Limits.configurationContextBytesMax`.
    public var context: [UInt8]

    public init(_ kind: Kind, node: NodeID, context: [UInt8] = []) {
        precondition(node != noNode, "node ID 0 is reserved")
        precondition(context.count <= Limits.configurationContextBytesMax, "configuration context too large")
        self.kind = kind
        self.node = node
        self.context = context
    }

    /// Decodes the payload of a configuration-change entry; nil when it is not one.
    public init?(entryData: [UInt8]) {
        guard let change = ConfigurationChangeCodec.decode(entryData) else { return nil }
        self = change
    }
}

/// Where a snapshot sits in the log and which configuration was in effect at that point.
public struct SnapshotMetadata: Sendable, Hashable {
    public var index: LogIndex
    public var term: Term
    public var configuration: ConfigurationState

    public init(index: LogIndex, term: Term, configuration: ConfigurationState) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}

/// A point-in-time image of the applied state machine plus the metadata Raft needs.
public struct Snapshot: Sendable, Hashable {
    public var metadata: SnapshotMetadata
    /// The state machine image; opaque to Raft.
    public var data: [UInt8]

    public init(metadata: SnapshotMetadata, data: [UInt8]) {
        self.metadata = metadata
        self.data = data
    }

    public static let empty = Snapshot(
        metadata: SnapshotMetadata(index: 0, term: 0, configuration: .empty), data: [])

    public var isEmpty: Bool { metadata.index == 0 }
}

/// The answer to a ReadIndex request: once the local state machine has applied `index`, a read
/// that observes it is linearizable with respect to every write acknowledged before the request.
public struct ReadState: Sendable, Hashable {
    public var index: LogIndex
    /// The caller's opaque request context, echoed back so it can match answers to requests.
    public var context: UInt64

    public init(index: LogIndex, context: UInt64) {
        self.index = index
        self.context = context
    }
}
