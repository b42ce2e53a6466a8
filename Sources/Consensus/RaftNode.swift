/// One Raft server as a pure, deterministic state machine, shaped like etcd's `RawNode`.
///
/// Inputs are `tick()`, `step(_:)`, `propose(_:requestID:)` and the other requests; the output
/// is a `Ready` value that the driver persists, sends and applies before calling `advance(_:)`.
/// The node performs no I/O, reads no clock (time is ticks) and draws randomness only from the
/// injected generator, so the same inputs in the same state always give the same outputs.
///
/// NB: deliberately not `Sendable`. One task owns a node and runs each call to completion.
public struct RaftNode<Storage: RaftLogStorage, RNG: RandomNumberGenerator> {
    public let settings: RaftConfiguration
    var rng: RNG
    var log: RaftLog<Storage>

    public internal(set) var term: Term = 0
    public internal(set) var vote: NodeID = noNode
    public internal(set) var leader: NodeID = noNode
    public internal(set) var role: Role = .follower
    /// The voting configuration in effect: the latest one in the log, committed or not
    /// (Ongaro's thesis §4.1). Elections, commitment, check-quorum and ReadIndex count under it.
    public internal(set) var configuration: ConfigurationState
    /// The configuration as of the applied index; the driver stores it with snapshots.
    public internal(set) var appliedConfiguration: ConfigurationState
    /// Where `configuration` came from: the index and term of its entry (zero for a snapshot).
    var configurationIndex: LogIndex = 0
    var configurationTerm: Term = 0

    var votes: [NodeID: Bool] = [:]
    var progress: [NodeID: Progress] = [:]
    var electionElapsedTicks = 0
    var heartbeatElapsedTicks = 0
    var randomizedElectionTimeoutTicks = 0
    /// The target of a leadership transfer in progress, or `noNode`.
    public internal(set) var leadTransferee: NodeID = noNode
    /// The index of the latest configuration change in the log; a new one waits until applied.
    var pendingConfigurationIndex: LogIndex = 0
    /// The leader's own proposals that are not yet committed, for back-pressure and for
    /// spotting a retried request ID before it is appended twice.
    var uncommittedProposals: [(index: LogIndex, requestID: RequestID, sizeBytes: Int)] = []
    var uncommittedBytes = 0
    /// ReadIndex requests waiting for this term's first commit, then for a heartbeat quorum.
    var readsAwaitingTermCommit: [UInt64] = []
    var pendingReads: [PendingRead] = []

    var messages: [Message] = []
    var readStates: [ReadState] = []
    var reportedHardState: HardState
    var reportedSoftState: SoftState
    var readyOutstanding = false

    /// Restores a node from `storage` (a fresh member has empty storage with its initial voters).
    public init(settings: RaftConfiguration, storage: Storage, rng: RNG) {
        let (hardState, configuration) = storage.initialState()
        self.settings = settings
        self.rng = rng
        self.log = RaftLog(storage: storage, committed: hardState.commit)
        self.configuration = configuration
        self.appliedConfiguration = configuration
        self.reportedHardState = hardState
        self.reportedSoftState = SoftState(leader: noNode, role: .follower)
        becomeFollower(term: hardState.term, leader: noNode)
        self.vote = hardState.vote
        recomputeConfiguration()
        if settings.testingMutations.contains(.skipVotePersistence) {
            reportedHardState.vote = noNode
        }
    }

    public var id: NodeID { settings.id }
    public var commitIndex: LogIndex { log.committed }
    public var appliedIndex: LogIndex { log.applied }
    public var lastIndex: LogIndex { log.lastIndex() }
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
    public var softState: SoftState { SoftState(leader: leader, role: role) }

    /// Whether this node may campaign. A voter may; so may a node whose removal is in its log
    /// but not yet applied (thesis §4.2.2): it counts votes only from the new configuration,
    /// and it may hold the only up-to-date log, so forbidding it could stall the cluster.
    var isPromotable: Bool { configuration.contains(id) || appliedConfiguration.contains(id) }

    /// Whether the leader has committed an entry of its own term (its no-op), which is when
    /// it learns the true commit index and may serve reads and change membership.
    var hasCommittedInCurrentTerm: Bool { log.termOrZero(log.committed) == term }

    var mutations: TestingMutations { settings.testingMutations }

    // MARK: - Role transitions

    mutating func reset(term newTerm: Term) {
        precondition(newTerm >= term, "term went backwards from \(term) to \(newTerm)")
        if newTerm != term {
            term = newTerm
            vote = noNode
        }
        leader = noNode
        votes = [:]
        electionElapsedTicks = 0
        heartbeatElapsedTicks = 0
        randomizedElectionTimeoutTicks = settings.electionTimeoutTicks
            + Int.random(in: 0..<settings.electionTimeoutTicks, using: &rng)
        leadTransferee = noNode
        progress = [:]
        uncommittedProposals = []
        uncommittedBytes = 0
        readsAwaitingTermCommit = []
        pendingReads = []
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID) {
        reset(term: newTerm)
        role = .follower
        leader = newLeader
    }

    mutating func becomePreCandidate() {
        precondition(role != .leader, "a leader never pre-campaigns")
        // NB: a pre-candidate changes neither its term nor its vote, so a failed pre-vote
        // leaves no trace that could disrupt the cluster.
        votes = [:]
        leader = noNode
        role = .preCandidate
    }

    mutating func becomeCandidate() {
        precondition(role != .leader, "a leader never campaigns")
        reset(term: term + 1)
        vote = id
        role = .candidate
    }

    mutating func becomeLeader() {
        precondition(role == .candidate, "only a candidate becomes leader")
        reset(term: term)
        role = .leader
        leader = id
        let last = log.lastIndex()
        for voter in configuration.voters {
            var peer = Progress(next: last + 1)
            if voter == id {
                peer.match = last
                peer.state = .replicate
            }
            peer.recentActive = true
            progress[voter] = peer
        }
        // NB: an uncommitted configuration change may hide in the tail we inherited, so no new
        // change is allowed until everything up to here has been applied.
        pendingConfigurationIndex = last
        appendAsLeader([Entry(term: term, index: 0, kind: .noop)])
        broadcastAppend()
    }

    // MARK: - Inputs

    /// Advances logical time by one tick: elections, heartbeats and timeouts happen here.
    public mutating func tick() {
        if role == .leader {
            tickLeader()
        } else {
            tickElection()
        }
    }

    /// Feeds one message received from a peer. Invalid or stale messages are ignored.
    public mutating func step(_ message: Message) {
        guard message.to == id, message.from != noNode, message.from != id, message.term > 0 else {
            return
        }
        guard stepTerm(message) else { return }
        switch message.kind {
        case .vote, .preVote:
            handleVoteRequest(message)
        default:
            switch role {
            case .leader: stepLeader(message)
            case .candidate, .preCandidate: stepCandidate(message)
            case .follower: stepFollower(message)
            }
        }
    }

    /// Queues a message for the next `Ready`.
    mutating func send(_ message: Message) {
        var message = message
        message.from = id
        if message.term == 0 { message.term = term }
        precondition(message.to != id && message.to != noNode, "bad destination \(message.to)")
        messages.append(message)
    }
}
