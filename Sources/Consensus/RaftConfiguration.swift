/// Deliberately broken behaviours, switched on only by tests and the simulator to prove that
/// the checkers notice each classic Raft bug. Production code never sets any of these.
public struct TestingMutations: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Count replicas for entries of earlier terms when advancing the commit index
    /// (the Raft paper's Figure 8 bug).
    public static let commitPreviousTermByCounting = TestingMutations(rawValue: 1 << 0)
    /// Report the vote as empty in `Ready.hardState`, so a restarted node forgets it voted.
    public static let skipVotePersistence = TestingMutations(rawValue: 1 << 1)
    /// Truncate the log after every append, even a stale one whose entries all match.
    public static let truncateOnStaleAppend = TestingMutations(rawValue: 1 << 2)
    /// Grant (pre-)votes regardless of the leader lease and the pre-vote's term, so a node that
    /// rejoins after a partition can depose a healthy leader.
    public static let skipPreVoteTermCheck = TestingMutations(rawValue: 1 << 3)
    /// Grant a vote to every candidate that asks, even after voting for another in that term.
    public static let grantTwoVotesPerTerm = TestingMutations(rawValue: 1 << 4)
    /// Answer ReadIndex requests at once, without a heartbeat quorum confirming leadership.
    public static let readIndexWithoutQuorum = TestingMutations(rawValue: 1 << 5)

    public static let all: [(String, TestingMutations)] = [
        ("commitPreviousTermByCounting", .commitPreviousTermByCounting),
        ("skipVotePersistence", .skipVotePersistence),
        ("truncateOnStaleAppend", .truncateOnStaleAppend),
        ("skipPreVoteTermCheck", .skipPreVoteTermCheck),
        ("grantTwoVotesPerTerm", .grantTwoVotesPerTerm),
        ("readIndexWithoutQuorum", .readIndexWithoutQuorum),
    ]

    public var description: String {
        let names = Self.all.filter { contains($0.1) }.map(\.0)
        return names.isEmpty ? "none" : names.joined(separator: "+")
    }
}

/// Static settings of one `RaftNode`.
public struct RaftConfiguration: Sendable, Hashable {
    /// This server's ID; never zero.
    public var id: NodeID
    /// A follower campaigns after a random timeout in `[electionTimeoutTicks, 2 × that)`.
    public var electionTimeoutTicks: Int
    /// A leader sends heartbeats this often; must be well below the election timeout.
    public var heartbeatIntervalTicks: Int
    /// Run a pre-vote round before incrementing the term (thesis §9.6).
    public var preVote: Bool
    /// A leader steps down when it has not heard from a quorum for an election timeout, and
    /// voters ignore vote requests while they hear from a leader (the leader lease).
    public var checkQuorum: Bool
    /// The most entries one append carries; may lower `Limits.appendBatchEntriesMax`, never
    /// raise it. Small values make the simulator split catch-up into many round trips.
    public var appendBatchEntriesMax: Int
    /// Deliberate bugs for checker tests; empty in production.
    public var testingMutations: TestingMutations

    public init(
        id: NodeID, electionTimeoutTicks: Int = 10, heartbeatIntervalTicks: Int = 1,
        preVote: Bool = true, checkQuorum: Bool = true,
        appendBatchEntriesMax: Int = Limits.appendBatchEntriesMax,
        testingMutations: TestingMutations = []
    ) {
        precondition((1...Limits.appendBatchEntriesMax).contains(appendBatchEntriesMax))
        precondition(id != noNode, "node ID 0 is reserved")
        precondition(heartbeatIntervalTicks >= 1, "heartbeat interval must be positive")
        precondition(electionTimeoutTicks > heartbeatIntervalTicks, "election timeout too short")
        self.id = id
        self.electionTimeoutTicks = electionTimeoutTicks
        self.heartbeatIntervalTicks = heartbeatIntervalTicks
        self.preVote = preVote
        self.checkQuorum = checkQuorum
        self.appendBatchEntriesMax = appendBatchEntriesMax
        self.testingMutations = testingMutations
    }
}

/// Why a proposal was refused. The caller may retry elsewhere or later.
public enum ProposalError: Error, Sendable, Hashable {
    /// This server is not the leader; `leader` is the one it knows of, or `noNode`.
    case notLeader(leader: NodeID)
    /// A leadership transfer is under way; proposals resume with the new leader.
    case transferInProgress
    /// The payload exceeds `Limits.proposalBytesMax`.
    case tooLarge
    /// Too many uncommitted bytes are outstanding; retry after some commit.
    case backpressure
    /// The leader has not yet committed an entry in its term, so a configuration change
    /// could overlap an unknown earlier one (Ongaro, raft-dev 2015).
    case leaderNotReady
    /// A configuration change is still waiting to be applied; only one at a time.
    case configurationChangeInProgress
    /// The change does not fit the configuration (adding a voter twice, removing the last one).
    case invalidConfigurationChange
}

/// Why a ReadIndex request was refused.
public enum ReadIndexError: Error, Sendable, Hashable {
    case notLeader(leader: NodeID)
    /// Too many reads are waiting; retry later.
    case backpressure
    /// Context zero is reserved for plain heartbeats.
    case invalidContext
}

/// Why a leadership transfer was refused.
public enum TransferError: Error, Sendable, Hashable {
    case notLeader(leader: NodeID)
    /// The target is this server or not a voter.
    case invalidTarget
}
