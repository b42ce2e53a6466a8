/// The kinds of message Raft servers exchange. Raw values are part of the wire format.
public enum MessageKind: UInt8, Sendable, Hashable, CaseIterable {
    /// Leader → follower: entries after (`index`, `logTerm`), plus the leader's commit index.
    case append = 1
    /// Follower → leader: accepted up to `index`, or rejected with a `rejectHint`.
    case appendResponse = 2
    /// Candidate → voter: a real vote request for `term`, with the candidate's last log position.
    case vote = 3
    case voteResponse = 4
    /// Pre-candidate → voter: "would you vote for me in `term`?" Changes nobody's term.
    case preVote = 5
    case preVoteResponse = 6
    /// Leader → follower: keeps followers from campaigning and confirms ReadIndex requests.
    case heartbeat = 7
    case heartbeatResponse = 8
    /// Leader → follower: a snapshot that replaces the follower's log prefix.
    case snapshot = 9
    /// Leader → transfer target: campaign now, skipping pre-vote and the leader lease.
    case timeoutNow = 10
}

/// One Raft message. A flat record, as in etcd, so the codec stays simple; fields that a kind
/// does not use stay zero.
public struct Message: Sendable, Hashable {
    public var kind: MessageKind
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    /// The term of the entry at `index` (append), or of the candidate's last entry (votes).
    public var logTerm: Term
    /// The log position this message refers to; see each kind.
    public var index: LogIndex
    public var entries: [Entry]
    public var commit: LogIndex
    public var reject: Bool
    /// On a rejected append: the highest index the follower might still share with the leader.
    public var rejectHint: LogIndex
    /// ReadIndex context on heartbeats; `Message.transferContext` on vote requests caused by
    /// a leadership transfer.
    public var context: UInt64
    public var snapshot: Snapshot?

    public init(
        kind: MessageKind, from: NodeID = noNode, to: NodeID = noNode, term: Term = 0,
        logTerm: Term = 0, index: LogIndex = 0, entries: [Entry] = [], commit: LogIndex = 0,
        reject: Bool = false, rejectHint: LogIndex = 0, context: UInt64 = 0,
        snapshot: Snapshot? = nil
    ) {
        self.kind = kind
        self.from = from
        self.to = to
        self.term = term
        self.logTerm = logTerm
        self.index = index
        self.entries = entries
        self.commit = commit
        self.reject = reject
        self.rejectHint = rejectHint
        self.context = context
        self.snapshot = snapshot
    }

    /// Marks a vote request sent because of a leadership transfer, which voters honour even
    /// while they believe in a live leader.
    public static let transferContext: UInt64 = 0x5452_414E_5346_4552  // "TRANSFER"

    /// Whether this message is a request for votes (real or pre-vote).
    var isVoteRequest: Bool { kind == .vote || kind == .preVote }
}
