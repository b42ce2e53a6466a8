import Consensus
import LogStore
import Synchronization

/// Drives the pure Raft core against the LMDB store: Ready → persist → send → apply → advance.
///
/// One task (`run()`) owns the `RaftNode`, the store and the applier; everything else talks to
/// it through a bounded inbox. Each pass drains the whole inbox before asking for a `Ready`, so
/// proposals that arrived while the previous fsync ran are appended together and made durable
/// by one fsync: that is the group commit. The entries a `Ready` carries, the hard state, and
/// the projection writes of the entries it commits go into one LMDB transaction, with the
/// applied index, and messages leave only after it is durable (the core's ordering rule) —
/// except a leader's, which leave first so that its write overlaps its followers' (see
/// `processReadies`).
/// A `Ready` that only applies committed entries writes nothing at once: its table writes wait
/// in memory for the next synced transaction, or for the next tick, when they are committed
/// without flushing LMDB's meta page (`LogStore.commit(_:syncMeta:)`). A proposal is
/// acknowledged once its entry is committed (durable on a majority, this server included) and
/// applied here (readers read the applier's state), not once the applied tables are on disk.
public final class LogDriver<Applier: LogApplier>: Sendable {
    public typealias Outcome = Applier.Outcome
    /// Where a proposal landed and what applying it did.
    public typealias Applied = (index: Consensus.LogIndex, outcome: Outcome)

    public struct Settings: Sendable {
        public var raft: RaftConfiguration
        /// The voters of a brand-new log (a single server: just itself).
        public var bootstrapVoters: [NodeID]
        /// Real time per Raft tick.
        public var tickInterval: Duration = .milliseconds(50)
        /// Proposals and messages waiting for the driver; past this, `propose` fails at once.
        public var inboxCapacity = 65_536
        /// Applied entries between automatic snapshots; the log before a snapshot is dropped, so
        /// a large value keeps more history for `log export` and `log replay`.
        public var snapshotIntervalEntries: UInt64 = 1_000_000
        /// How long a pass after a busy one waits for more proposals to share its fsync.
        public var groupCommit = GroupCommitPacing.standard

        public init(raft: RaftConfiguration, bootstrapVoters: [NodeID]) {
            self.raft = raft
            self.bootstrapVoters = bootstrapVoters
        }
    }

    public enum ProposalError: Error, Sendable, Equatable {
        /// This server is not the leader; `leader` is the one it knows of (0: none yet).
        case notLeader(leader: NodeID)
        /// The inbox or the core's uncommitted-bytes budget is full; retry later.
        case overloaded
        /// Leadership moved before the entry committed: it may or may not be in the log.
        case outcomeUnknown
        /// The driver stopped (shutdown or a storage failure).
        case stopped
        case tooLarge
        /// The core refused a membership change (one is already pending, the leader has not
        /// committed in its term yet, or the change does not fit the configuration).
        case configurationChangeRefused(Consensus.ProposalError)
    }

    /// What callers can see of the node between passes.
    public struct Status: Sendable, Hashable {
        public var id: NodeID
        public var role: Role
        public var leader: NodeID
        public var term: Term
        public var commitIndex: Consensus.LogIndex
        public var appliedIndex: Consensus.LogIndex
        /// Between the start of `run()` and its end.
        public var running = false
        /// The voters of the latest configuration in the log (in effect), and of the applied one.
        public var voters: [NodeID] = []
        public var appliedVoters: [NodeID] = []
        /// On the leader: every voter's replication progress; empty elsewhere.
        public var replication: [PeerReplicationStatus] = []
        /// The first index still in the log; above 1 once a snapshot replaced the start.
        public var firstIndex: Consensus.LogIndex = 1
    }

    private struct PendingChange {
        var change: ConfigurationChange
        var requestID: RequestID
        var continuation: CheckedContinuation<Consensus.LogIndex, any Error>
    }

    private struct PendingProposal {
        var data: [UInt8]
        var requestID: RequestID
        var continuation: CheckedContinuation<Applied, any Error>
    }

    /// Who waits for the entry that carries a request ID. A local proposal's outcome is unknown
    /// once this server stops leading; a forwarded one's proposer is the leader, so its waiter
    /// stays until the entry is applied here or the forwarder gives up (`cancelForwarded`).
    private enum Waiter {
        case local(CheckedContinuation<Applied, any Error>)
        case forwarded(AppliedSignal<Outcome>)

        func resume(_ result: Result<Applied, any Error>) {
            switch self {
            case .local(let continuation): continuation.resume(with: result)
            case .forwarded(let signal): signal.finish(result)
            }
        }
    }

    /// A ReadIndex request: answered with the confirmed read index, or failed at its deadline.
    private struct PendingReadIndex {
        var context: UInt64
        var deadline: ContinuousClock.Instant
        var continuation: CheckedContinuation<Consensus.LogIndex, any Error>
    }

    /// A ReadIndex request that no quorum confirmed before its deadline.
    public struct ReadIndexTimedOut: Error, CustomStringConvertible {
        public var description: String { "no quorum confirmed this leader's read index in time" }
    }

    private struct Inbox {
        var proposals: [PendingProposal] = []
        var reads: [PendingReadIndex] = []
        var messages: [Message] = []
        /// Forwarded requests to recognise when their entry is applied, and ones given up on.
        var forwarded: [AppliedSignal<Outcome>] = []
        var cancelledForwards: [AppliedSignal<Outcome>] = []
        var configurationChanges: [PendingChange] = []
        var ticks = 0
        var stopped = false

        var count: Int {
            proposals.count + reads.count + messages.count + forwarded.count + cancelledForwards.count
                + configurationChanges.count
        }
    }

    private let settings: Settings
    private let inbox = Mutex(Inbox())
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>
    private let status: Mutex<Status>
    private let core: Mutex<Core?>
    /// Where outgoing messages go (the cluster transport); a single server sends none.
    private let send: @Sendable ([Message]) -> Void
    /// Told after every pass that applied something: (applied index, outcomes in order).
    private let onApplied: @Sendable (Consensus.LogIndex) -> Void
    /// Told of every configuration change appended to this server's log, before the append is
    /// made durable and before any message goes out: the cluster transport learns a new
    /// member's address from its context before the core addresses it. May be told of changes
    /// a conflicting append later truncates.
    private let onConfigurationEntries: @Sendable ([ConfigurationChange]) -> Void
    /// This driver's Raft client ID: every request it proposes or forwards is (clientID, n).
    private let clientID = UInt64.random(in: 1...UInt64.max)
    private let lastSequence = Atomic<UInt64>(0)
    /// ReadIndex contexts: unique among outstanding requests (the core's rule), never zero.
    private let lastReadContext = Atomic<UInt64>(0)

    /// The state only the run task touches. Held in a Mutex so the class can be `Sendable`;
    /// the run loop takes it out once and owns it from then on.
    private struct Core: @unchecked Sendable {
        // @unchecked: RaftNode, the store and the applier are single-owner values; `run()` moves
        // them out of the Mutex exactly once (a precondition) and no other code touches them.
        var node: RaftNode<LMDBRaftStorage, SystemRandomNumberGenerator>
        var storage: LMDBRaftStorage
        var applier: Applier
        /// Applies of committed entries (projection writes, applied and commit index) not yet
        /// in the store: they ride along with the next synced write, or are written unsynced
        /// at the next tick. Never entries, a term or a vote. See `processReadies`.
        var unwrittenApplies = WriteBatch()
        /// The term and vote last written with a sync: a `Ready` that changes either must be
        /// durable before any of its messages leaves.
        var durableTerm: Term
        var durableVote: NodeID
    }

    /// Opens the driver over an already opened store. The applier must hold the state that the
    /// store's projection tables hold at `store.appliedIndex()`.
    public init(
        store: LogStore, applier: Applier, settings: Settings,
        send: @escaping @Sendable ([Message]) -> Void = { _ in },
        onApplied: @escaping @Sendable (Consensus.LogIndex) -> Void = { _ in },
        onConfigurationEntries: @escaping @Sendable ([ConfigurationChange]) -> Void = { _ in }
    ) throws(LogStoreError) {
        precondition(store.health.mayVoteOrLead, "a store with a corrupt log must not vote or lead")
        self.settings = settings
        self.send = send
        self.onApplied = onApplied
        self.onConfigurationEntries = onConfigurationEntries
        let storage = LMDBRaftStorage(
            store: store, bootstrapConfiguration: ConfigurationState(voters: settings.bootstrapVoters))
        var node = RaftNode(settings: settings.raft, storage: storage, rng: SystemRandomNumberGenerator())
        let applied = try store.appliedIndex()
        node.restoreAppliedIndex(applied)
        self.core = Mutex(Core(
            node: node, storage: storage, applier: applier,
            durableTerm: node.hardState.term, durableVote: node.hardState.vote))
        var initial = Status(
            id: settings.raft.id, role: node.softState.role, leader: node.softState.leader,
            term: node.hardState.term, commitIndex: node.commitIndex, appliedIndex: applied)
        Self.describeConfiguration(of: node, into: &initial)
        self.status = Mutex(initial)
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var currentStatus: Status { status.withLock { $0 } }

    /// A request ID no earlier call of this driver returned.
    public func newRequestID() -> RequestID {
        let sequence = lastSequence.add(1, ordering: .relaxed).newValue
        return RequestID(client: clientID, sequence: sequence)
    }

    /// Appends `data` to the log and returns once it is committed, durable and applied.
    /// `requestID`: a forwarded request keeps its proposer's ID, so the proposer recognises the
    /// entry, and a retry the leader still holds uncommitted is not appended twice.
    public func propose(_ data: [UInt8], requestID: RequestID? = nil) async throws -> Applied {
        guard !inbox.withLock({ $0.stopped }) else { throw ProposalError.stopped }
        let current = currentStatus
        guard current.role == .leader else { throw ProposalError.notLeader(leader: current.leader) }
        guard data.count <= Consensus.Limits.proposalBytesMax else { throw ProposalError.tooLarge }
        let requestID = requestID ?? newRequestID()
        precondition(!requestID.isNone, "a proposal must carry a request ID")
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = inbox.withLock { inbox -> ProposalError? in
                if inbox.stopped { return .stopped }
                guard inbox.count < settings.inboxCapacity else { return .overloaded }
                inbox.proposals.append(PendingProposal(data: data, requestID: requestID, continuation: continuation))
                return nil
            }
            if let refused = accepted {
                continuation.resume(throwing: refused)
            } else {
                wake.yield()
            }
        }
    }

    /// Appends a single-server membership change and returns its index once it is committed,
    /// durable and applied here. Only the leader may; the core allows one pending change.
    public func proposeConfigurationChange(_ change: ConfigurationChange) async throws -> Consensus.LogIndex {
        guard !inbox.withLock({ $0.stopped }) else { throw ProposalError.stopped }
        let current = currentStatus
        guard current.role == .leader else { throw ProposalError.notLeader(leader: current.leader) }
        let requestID = newRequestID()
        return try await withCheckedThrowingContinuation { continuation in
            let pending = PendingChange(change: change, requestID: requestID, continuation: continuation)
            if let refused = admit({ $0.configurationChanges.append(pending) }) { continuation.resume(throwing: refused) }
        }
    }

    /// Adds to the inbox unless the driver stopped or the inbox is full, and wakes the run loop.
    private func admit(_ add: (inout Inbox) -> Void) -> ProposalError? {
        let refused = inbox.withLock { inbox -> ProposalError? in
            if inbox.stopped { return .stopped }
            guard inbox.count < settings.inboxCapacity else { return .overloaded }
            add(&inbox)
            return nil
        }
        if refused == nil { wake.yield() }
        return refused
    }

    /// Raft ReadIndex on the leader: returns once a heartbeat round has confirmed that this
    /// server still leads, with the commit index as of the call. A read served after applying
    /// through that index is current (linearizable). Throws `notLeader` on a follower or when
    /// leadership is lost meanwhile, `overloaded` when too many reads wait, and
    /// `ReadIndexTimedOut` after `timeout` (a leader cut off from its quorum).
    public func readIndex(timeout: Duration) async throws -> Consensus.LogIndex {
        guard !inbox.withLock({ $0.stopped }) else { throw ProposalError.stopped }
        let current = currentStatus
        guard current.role == .leader else { throw ProposalError.notLeader(leader: current.leader) }
        let context = lastReadContext.add(1, ordering: .relaxed).newValue
        let deadline = ContinuousClock.now + timeout
        return try await withCheckedThrowingContinuation { continuation in
            let read = PendingReadIndex(context: context, deadline: deadline, continuation: continuation)
            if let refused = admit({ $0.reads.append(read) }) { continuation.resume(throwing: refused) }
        }
    }

    /// Registers interest in the entry that will carry `requestID`, which another server (the
    /// leader) is asked to append. Register before asking: the run loop takes registrations
    /// before the messages that arrived with them, so the entry cannot be applied unnoticed.
    /// The signal finishes when this server applies the entry; call `cancelForwarded` when the
    /// leader refused or the request is given up, so the registration does not stay.
    public func expectForwarded(_ requestID: RequestID) throws -> AppliedSignal<Outcome> {
        precondition(requestID.client == clientID, "only this driver's own request IDs are expected")
        let signal = AppliedSignal<Outcome>(requestID: requestID)
        let refused = inbox.withLock { inbox -> ProposalError? in
            if inbox.stopped { return .stopped }
            guard inbox.count < settings.inboxCapacity else { return .overloaded }
            inbox.forwarded.append(signal)
            return nil
        }
        if let refused { throw refused }
        wake.yield()
        return signal
    }

    /// Drops one registration (by identity: a retry may register the same request ID again).
    public func cancelForwarded(_ signal: AppliedSignal<Outcome>) {
        signal.finish(.failure(ProposalError.outcomeUnknown))
        // Past capacity the registration stays until the entry is applied or the driver stops;
        // that bounds it too, as nothing registers more while the inbox is full.
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped, inbox.count < settings.inboxCapacity else { return false }
            inbox.cancelledForwards.append(signal)
            return true
        }
        if accepted { wake.yield() }
    }

    /// A message from a peer. Dropped when the inbox is full: Raft tolerates message loss.
    public func receive(_ message: Message) {
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped, inbox.count < settings.inboxCapacity else { return false }
            inbox.messages.append(message)
            return true
        }
        if accepted { wake.yield() }
    }

    /// Runs until cancelled or until the store fails; pending proposals then fail with
    /// `stopped` (never acknowledged, so nothing acknowledged is lost).
    public func run() async throws {
        // The loop and its ticker run on a thread of their own: the commit's fsync blocks it,
        // not a thread of the shared pool (`DedicatedThreadExecutor`).
        let executor = DedicatedThreadExecutor(name: "lineage-driver")
        defer { executor.stop() }
        try await withTaskExecutorPreference(executor) { try await self.runLoop() }
    }

    private func runLoop() async throws {
        guard var owned = core.withLock({ core -> Core? in defer { core = nil }; return core }) else {
            preconditionFailure("LogDriver.run() may be called only once")
        }
        defer { stop() }
        status.withLock { $0.running = true }
        // On the way out (cancellation or a failure), what is applied goes to the store if it
        // can; if not, a restart re-applies it from the log.
        defer { try? writeApplies(&owned) }
        if settings.bootstrapVoters == [settings.raft.id] && owned.node.hardState.term == 0 {
            // A new single-server log elects itself at once instead of waiting a timeout.
            owned.node.campaignNow()
        }
        var waiting: [RequestID: [Waiter]] = [:]
        var changes = ChangeWaiters()
        defer { changes.failAll(ProposalError.stopped) }
        var reads: [UInt64: PendingReadIndex] = [:]
        // Proposals handed to Raft but not yet applied are failed on every way out — a storage
        // error included — so no caller waits forever; none of them was acknowledged.
        defer {
            for waiter in waiting.values.joined() { waiter.resume(.failure(ProposalError.stopped)) }
            for read in reads.values { read.continuation.resume(throwing: ProposalError.stopped) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.tickForever() }
            defer { group.cancelAll() }
            var previousProposals = 0
            for await _ in wakeups {
                await gatherProposals(previousPass: previousProposals)
                let taken = inbox.withLock { inbox -> Inbox in
                    defer {
                        inbox.proposals = []; inbox.reads = []; inbox.messages = []; inbox.ticks = 0
                        inbox.forwarded = []; inbox.cancelledForwards = []; inbox.configurationChanges = []
                    }
                    return inbox
                }
                // Registrations first: their entries may arrive in this very batch of messages.
                // One whose entry was applied already (a retry registered after the first copy
                // applied here) is answered with that copy's outcome at once.
                for signal in taken.forwarded {
                    if let applied = owned.applier.recordedOutcome(of: signal.requestID) {
                        signal.finish(.success(applied))
                    } else {
                        waiting[signal.requestID, default: []].append(.forwarded(signal))
                    }
                }
                for cancelled in taken.cancelledForwards {
                    waiting[cancelled.requestID]?.removeAll { waiter in
                        guard case .forwarded(let signal) = waiter else { return false }
                        return signal === cancelled
                    }
                    if waiting[cancelled.requestID]?.isEmpty == true { waiting[cancelled.requestID] = nil }
                }
                previousProposals = taken.proposals.count
                for _ in 0..<taken.ticks { owned.node.tick() }
                for message in taken.messages { owned.node.step(message) }
                for proposal in taken.proposals {
                    do throws(Consensus.ProposalError) {
                        _ = try owned.node.propose(proposal.data, requestID: proposal.requestID)
                        waiting[proposal.requestID, default: []].append(.local(proposal.continuation))
                    } catch {
                        proposal.continuation.resume(throwing: Self.proposalError(error, status: owned.node.softState))
                    }
                }
                for pending in taken.configurationChanges {
                    do throws(Consensus.ProposalError) {
                        let index = try owned.node.proposeConfigurationChange(pending.change, requestID: pending.requestID)
                        changes.waiting[index] = pending.continuation
                    } catch {
                        pending.continuation.resume(throwing: Self.configurationError(error, status: owned.node.softState))
                    }
                }
                for read in taken.reads {
                    do throws(ReadIndexError) {
                        try owned.node.readIndex(context: read.context)
                        reads[read.context] = read
                    } catch .notLeader(let leader) {
                        read.continuation.resume(throwing: ProposalError.notLeader(leader: leader))
                    } catch {
                        read.continuation.resume(throwing: ProposalError.overloaded)
                    }
                }
                if taken.ticks > 0 && !reads.isEmpty {
                    // The core drops a read it cannot confirm (no quorum answers); the deadline
                    // is what frees its caller.
                    let now = ContinuousClock.now
                    for (context, read) in reads where read.deadline <= now {
                        reads[context] = nil
                        read.continuation.resume(throwing: ReadIndexTimedOut())
                    }
                }
                try processReadies(&owned, waiting: &waiting, changes: &changes, reads: &reads)
                // Idle or not, applies reach the store within a tick.
                if taken.ticks > 0 { try writeApplies(&owned) }
                // Progress moves with acknowledgements that need no Ready, so refresh every pass.
                status.withLock { Self.describeConfiguration(of: owned.node, into: &$0) }
                if Task.isCancelled { break }
            }
        }
    }

    /// Holds the next pass back while `settings.groupCommit` says more proposals are coming.
    private func gatherProposals(previousPass: Int) async {
        let pacing = settings.groupCommit
        // Most passes follow a quiet one: they return here without touching the inbox's lock.
        guard pacing.paces(after: previousPass) else { return }
        var waited = Duration.zero
        var queuedAtLastLook: Int?
        while true {
            let queued = inbox.withLock { $0.proposals.count }
            guard pacing.shouldWait(previousPass: previousPass, queued: queued, queuedAtLastLook: queuedAtLastLook, waited: waited) else {
                return
            }
            queuedAtLastLook = queued
            // A cancelled sleep ends at once; the pass then runs and the loop sees the cancellation.
            try? await Task.sleep(for: pacing.step)
            waited += pacing.step
        }
    }

    /// Raft's logical clock: one tick per `tickInterval` of real time.
    private func tickForever() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: settings.tickInterval)
            inbox.withLock { $0.ticks += 1 }
            wake.yield()
        }
    }

    /// Membership changes proposed here, by the index of their entry, until it is applied.
    private struct ChangeWaiters {
        var waiting: [Consensus.LogIndex: CheckedContinuation<Consensus.LogIndex, any Error>] = [:]

        mutating func failAll(_ error: any Error) {
            for continuation in waiting.values { continuation.resume(throwing: error) }
            waiting = [:]
        }
    }

    private static func describeConfiguration(
        of node: RaftNode<LMDBRaftStorage, SystemRandomNumberGenerator>, into status: inout Status
    ) {
        status.voters = node.configuration.voters
        status.appliedVoters = node.appliedConfiguration.voters
        status.replication = node.replicationStatus
        status.firstIndex = node.firstLogIndex
    }

    private func processReadies(
        _ owned: inout Core, waiting: inout [RequestID: [Waiter]], changes: inout ChangeWaiters,
        reads: inout [UInt64: PendingReadIndex]
    ) throws {
        while let ready = owned.node.ready() {
            let store = owned.storage.store
            if let snapshot = ready.snapshot {
                // A leader's snapshot replaces everything: tables and applied index move with it.
                try writeApplies(&owned)
                let writes = try owned.applier.restore(from: snapshot.data, at: snapshot.metadata.index)
                try store.saveSnapshot(
                    meta: StoredSnapshotMeta(
                        index: snapshot.metadata.index, term: snapshot.metadata.term,
                        configuration: LMDBRaftStorage.encodeConfiguration(snapshot.metadata.configuration)),
                    data: snapshot.data, projectionWrites: writes, appliedIndex: snapshot.metadata.index)
            }
            var batch = WriteBatch()
            for entry in ready.entries { batch.append(LMDBRaftStorage.stored(entry)) }
            let appendedChanges = ready.entries.lazy.filter { $0.kind == .configurationChange }
                .compactMap { ConfigurationChange(entryData: $0.data) }
            if !appendedChanges.isEmpty { onConfigurationEntries(Array(appendedChanges)) }
            if let hardState = ready.hardState {
                batch.hardState = StoredHardState(term: hardState.term, vote: hardState.vote, commit: hardState.commit)
            }
            // A leader's messages promise nothing about its own disk, so they leave before its
            // write and the followers' writes overlap it (Ongaro's thesis §10.2.1). The core
            // counts the leader's copy at append time; that stays true because acknowledgements
            // are stepped in a later pass, after this pass's synced write returned.
            let sendsBeforeWriting = owned.node.softState.role == .leader && ready.snapshot == nil
                && ready.hardState.map { $0.term == owned.durableTerm && $0.vote == owned.durableVote } ?? true
            if sendsBeforeWriting { send(ready.messages) }
            var outcomes: [(RequestID, Consensus.LogIndex, Outcome)] = []
            var appliedChanges: [(Consensus.LogIndex, CheckedContinuation<Consensus.LogIndex, any Error>)] = []
            for entry in ready.committedEntries {
                if entry.kind == .command {
                    let (outcome, writes) = try owned.applier.apply(entry.data, requestID: entry.requestID, at: entry.index)
                    for write in writes { batch.append(write) }
                    outcomes.append((entry.requestID, entry.index, outcome))
                } else if entry.kind == .configurationChange, let continuation = changes.waiting.removeValue(forKey: entry.index) {
                    appliedChanges.append((entry.index, continuation))
                }
                batch.appliedIndex = entry.index
            }
            if ready.mustSync || ready.snapshot != nil {
                // Entries, a term or a vote: durable before any message that states them. The
                // applies waiting in memory go into the same transaction when they fit.
                if owned.unwrittenApplies.isEmpty {
                    try store.commit(batch)
                } else if owned.unwrittenApplies.canMerge(batch) {
                    var combined = owned.unwrittenApplies
                    combined.merge(batch)
                    try store.commit(combined)
                    owned.unwrittenApplies = WriteBatch()
                } else {
                    try writeApplies(&owned)
                    try store.commit(batch)
                }
            } else if !batch.isEmpty {
                // Only applies of committed entries (and a higher commit index): they need not
                // reach the store before the proposer is answered. The entries are durable on a
                // quorum and in this server's log, readers read the applier's memory, and after
                // a crash the store's applied index (kept in one transaction with the tables)
                // says where replay from the log resumes. See docs/ha.md, "Durability on the
                // commit path".
                if !owned.unwrittenApplies.canMerge(batch) { try writeApplies(&owned) }
                owned.unwrittenApplies.merge(batch)
                if owned.unwrittenApplies.isFull { try writeApplies(&owned) }
            }
            if let applied = batch.appliedIndex ?? ready.snapshot?.metadata.index {
                owned.applier.committed(through: applied)
            }
            if let hardState = ready.hardState, ready.mustSync || ready.snapshot != nil {
                (owned.durableTerm, owned.durableVote) = (hardState.term, hardState.vote)
            }
            if !sendsBeforeWriting { send(ready.messages) }
            if ready.snapshot != nil {
                // The entries a snapshot covers are never applied one by one here, so the
                // requests this server forwarded and still waits for are answered from the
                // snapshot's request table; the others keep waiting for their entry.
                for requestID in Array(waiting.keys) {
                    guard let applied = owned.applier.recordedOutcome(of: requestID) else { continue }
                    for waiter in waiting.removeValue(forKey: requestID) ?? [] { waiter.resume(.success(applied)) }
                }
            }
            for (requestID, index, outcome) in outcomes {
                for waiter in waiting.removeValue(forKey: requestID) ?? [] { waiter.resume(.success((index, outcome))) }
            }
            for (index, continuation) in appliedChanges { continuation.resume(returning: index) }
            for state in ready.readStates {
                reads.removeValue(forKey: state.context)?.continuation.resume(returning: state.index)
            }
            let soft = owned.node.softState
            if soft.role != .leader && !reads.isEmpty {
                // The core dropped them with its leadership; the caller asks the new leader.
                for read in reads.values { read.continuation.resume(throwing: ProposalError.notLeader(leader: soft.leader)) }
                reads = [:]
            }
            if soft.role != .leader {
                // As for local proposals below: a change proposed as leader may or may not commit.
                changes.failAll(ProposalError.outcomeUnknown)
            }
            if soft.role != .leader && !waiting.isEmpty {
                // Entries proposed as leader may still commit under the next leader, or be
                // overwritten: the proposer cannot know which. Forwarded requests were proposed
                // by another server and keep waiting for their entry.
                for requestID in Array(waiting.keys) {
                    waiting[requestID]?.removeAll { waiter in
                        guard case .local = waiter else { return false }
                        waiter.resume(.failure(ProposalError.outcomeUnknown))
                        return true
                    }
                    if waiting[requestID]?.isEmpty == true { waiting[requestID] = nil }
                }
            }
            owned.node.advance(ready)
            let applied = ready.committedEntries.last?.index ?? ready.snapshot?.metadata.index
            status.withLock { status in
                status.role = soft.role
                status.leader = soft.leader
                status.term = owned.node.hardState.term
                status.commitIndex = owned.node.commitIndex
                if let applied { status.appliedIndex = applied }
            }
            if let applied {
                onApplied(applied)
                try snapshotIfDue(&owned, applied: applied)
            }
        }
    }

    /// Writes the applies held in memory, unsynced (`LogStore.commit(_:syncMeta:)`): a system
    /// crash may roll them back, which replay from the durable log repairs.
    private func writeApplies(_ owned: inout Core) throws {
        guard !owned.unwrittenApplies.isEmpty else { return }
        try owned.storage.store.commit(owned.unwrittenApplies, syncMeta: false)
        owned.unwrittenApplies = WriteBatch()
    }

    /// Snapshots the applied state and drops the log before it once enough has been applied.
    private func snapshotIfDue(_ owned: inout Core, applied: Consensus.LogIndex) throws {
        let store = owned.storage.store
        let snapshotIndex = try store.snapshotMeta()?.index ?? 0
        guard applied >= snapshotIndex + settings.snapshotIntervalEntries else { return }
        // The snapshot drops the log before `applied`: the store's tables must be there first.
        try writeApplies(&owned)
        try store.saveSnapshot(
            meta: StoredSnapshotMeta(
                index: applied, term: try store.term(at: applied),
                configuration: LMDBRaftStorage.encodeConfiguration(owned.node.configuration)),
            data: owned.applier.snapshotData())
    }

    private func stop() {
        let (pending, forwarded, pendingChanges, reads) = inbox.withLock { inbox in
            inbox.stopped = true
            defer { inbox.proposals = []; inbox.forwarded = []; inbox.configurationChanges = []; inbox.reads = [] }
            return (inbox.proposals, inbox.forwarded, inbox.configurationChanges, inbox.reads)
        }
        for proposal in pending { proposal.continuation.resume(throwing: ProposalError.stopped) }
        for change in pendingChanges { change.continuation.resume(throwing: ProposalError.stopped) }
        for read in reads { read.continuation.resume(throwing: ProposalError.stopped) }
        for signal in forwarded { signal.finish(.failure(ProposalError.stopped)) }
        wake.finish()
        status.withLock { status in
            status.role = .follower
            status.leader = noNode
            status.running = false
        }
    }

    private static func configurationError(_ error: Consensus.ProposalError, status: SoftState) -> ProposalError {
        switch error {
        case .notLeader: .notLeader(leader: status.leader)
        case .backpressure: .overloaded
        default: .configurationChangeRefused(error)
        }
    }

    private static func proposalError(_ error: Consensus.ProposalError, status: SoftState) -> ProposalError {
        switch error {
        case .notLeader: .notLeader(leader: status.leader)
        case .backpressure: .overloaded
        case .tooLarge: .tooLarge
        default: .outcomeUnknown
        }
    }
}
