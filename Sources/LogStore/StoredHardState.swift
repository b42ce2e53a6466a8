/// Raft's persistent state besides the log: the current term, the vote cast in it and the
/// commit index. Raft requires term and vote to be durable before any reply that depends on them.
public struct StoredHardState: Equatable, Hashable, Sendable {
    public var term: UInt64
    /// Node ID voted for in `term`; 0 means no vote.
    public var vote: UInt64
    public var commit: UInt64

    public init(term: UInt64 = 0, vote: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }

    /// The state of a node that has never run.
    public static let initial = StoredHardState()
}
