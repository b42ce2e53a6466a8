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
/// applied index, and messages leave only after it is durable (the core's ordering rule).
/// A proposal is acknowledged only once its entry is committed, durable and applied.
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
    }

    /// What callers can see of the node between passes.
    public struct Status: Sendable, Hashable {
        public var id: NodeID
        public var role: Role
        public var leader: NodeID
        public var term: Term
        public var commitIndex: Consensus.LogIndex
        public var appliedIndex: Consensus.LogIndex
    }

    private struct PendingProposal {
        var data: [UInt8]
        var continuation: CheckedContinuation<Applied, any Error>
    }

    private struct Inbox {
        var proposals: [PendingProposal] = []
        var messages: [Message] = []
        var ticks = 0
        var stopped = false
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

    /// The state only the run task touches. Held in a Mutex so the class can be `Sendable`;
    /// the run loop takes it out once and owns it from then on.
    private struct Core: @unchecked Sendable {
        // @unchecked: RaftNode, the store and the applier are single-owner values; `run()` moves
        // them out of the Mutex exactly once (a precondition) and no other code touches them.
        var node: RaftNode<LMDBRaftStorage, SystemRandomNumberGenerator>
        var storage: LMDBRaftStorage
        var applier: Applier
    }

    /// Opens the driver over an already opened store. The applier must hold the state that the
    /// store's projection tables hold at `store.appliedIndex()`.
    public init(
        store: LogStore, applier: Applier, settings: Settings,
        send: @escaping @Sendable ([Message]) -> Void = { _ in },
        onApplied: @escaping @Sendable (Consensus.LogIndex) -> Void = { _ in }
    ) throws(LogStoreError) {
        precondition(store.health.mayVoteOrLead, "a store with a corrupt log must not vote or lead")
        self.settings = settings
        self.send = send
        self.onApplied = onApplied
        let storage = LMDBRaftStorage(
            store: store, bootstrapConfiguration: ConfigurationState(voters: settings.bootstrapVoters))
        var node = RaftNode(settings: settings.raft, storage: storage, rng: SystemRandomNumberGenerator())
        let applied = try store.appliedIndex()
        node.restoreAppliedIndex(applied)
        self.core = Mutex(Core(node: node, storage: storage, applier: applier))
        self.status = Mutex(Status(
            id: settings.raft.id, role: node.softState.role, leader: node.softState.leader,
            term: node.hardState.term, commitIndex: node.commitIndex, appliedIndex: applied))
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var currentStatus: Status { status.withLock { $0 } }

    /// Appends `data` to the log and returns once it is committed, durable and applied.
    public func propose(_ data: [UInt8]) async throws -> Applied {
        guard !inbox.withLock({ $0.stopped }) else { throw ProposalError.stopped }
        let current = currentStatus
        guard current.role == .leader else { throw ProposalError.notLeader(leader: current.leader) }
        guard data.count <= Consensus.Limits.proposalBytesMax else { throw ProposalError.tooLarge }
        return try await withCheckedThrowingContinuation { continuation in
            let accepted = inbox.withLock { inbox -> ProposalError? in
                if inbox.stopped { return .stopped }
                guard inbox.proposals.count + inbox.messages.count < settings.inboxCapacity else { return .overloaded }
                inbox.proposals.append(PendingProposal(data: data, continuation: continuation))
                return nil
            }
            if let refused = accepted {
                continuation.resume(throwing: refused)
            } else {
                wake.yield()
            }
        }
    }

    /// A message from a peer. Dropped when the inbox is full: Raft tolerates message loss.
    public func receive(_ message: Message) {
        let accepted = inbox.withLock { inbox -> Bool in
            guard !inbox.stopped, inbox.proposals.count + inbox.messages.count < settings.inboxCapacity else { return false }
            inbox.messages.append(message)
            return true
        }
        if accepted { wake.yield() }
    }

    /// Runs until cancelled or until the store fails; pending proposals then fail with
    /// `stopped` (never acknowledged, so nothing acknowledged is lost).
    public func run() async throws {
        guard var owned = core.withLock({ core -> Core? in defer { core = nil }; return core }) else {
            preconditionFailure("LogDriver.run() may be called only once")
        }
        defer { stop() }
        if settings.bootstrapVoters == [settings.raft.id] && owned.node.hardState.term == 0 {
            // A new single-server log elects itself at once instead of waiting a timeout.
            owned.node.campaignNow()
        }
        var waiting: [RequestID: CheckedContinuation<Applied, any Error>] = [:]
        var nextSequence: UInt64 = 0
        let clientID = UInt64.random(in: 1...UInt64.max)
        // Proposals handed to Raft but not yet applied are failed on every way out — a storage
        // error included — so no caller waits forever; none of them was acknowledged.
        defer { for continuation in waiting.values { continuation.resume(throwing: ProposalError.stopped) } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.tickForever() }
            defer { group.cancelAll() }
            for await _ in wakeups {
                let taken = inbox.withLock { inbox -> Inbox in
                    defer { inbox.proposals = []; inbox.messages = []; inbox.ticks = 0 }
                    return inbox
                }
                for _ in 0..<taken.ticks { owned.node.tick() }
                for message in taken.messages { owned.node.step(message) }
                for proposal in taken.proposals {
                    nextSequence += 1
                    let requestID = RequestID(client: clientID, sequence: nextSequence)
                    do throws(Consensus.ProposalError) {
                        _ = try owned.node.propose(proposal.data, requestID: requestID)
                        waiting[requestID] = proposal.continuation
                    } catch {
                        proposal.continuation.resume(throwing: Self.proposalError(error, status: owned.node.softState))
                    }
                }
                try processReadies(&owned, waiting: &waiting)
                if Task.isCancelled { break }
            }
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

    private func processReadies(
        _ owned: inout Core,
        waiting: inout [RequestID: CheckedContinuation<Applied, any Error>]
    ) throws {
        while let ready = owned.node.ready() {
            let store = owned.storage.store
            if let snapshot = ready.snapshot {
                // A leader's snapshot replaces everything: tables and applied index move with it.
                let writes = try owned.applier.restore(from: snapshot.data, at: snapshot.metadata.index)
                try store.saveSnapshot(
                    meta: StoredSnapshotMeta(
                        index: snapshot.metadata.index, term: snapshot.metadata.term,
                        configuration: LMDBRaftStorage.encodeConfiguration(snapshot.metadata.configuration)),
                    data: snapshot.data, projectionWrites: writes, appliedIndex: snapshot.metadata.index)
            }
            var batch = WriteBatch()
            for entry in ready.entries { batch.append(LMDBRaftStorage.stored(entry)) }
            if let hardState = ready.hardState {
                batch.hardState = StoredHardState(term: hardState.term, vote: hardState.vote, commit: hardState.commit)
            }
            var outcomes: [(RequestID, Consensus.LogIndex, Outcome)] = []
            for entry in ready.committedEntries {
                if entry.kind == .command {
                    let (outcome, writes) = try owned.applier.apply(entry.data, at: entry.index)
                    for write in writes { batch.append(write) }
                    outcomes.append((entry.requestID, entry.index, outcome))
                }
                batch.appliedIndex = entry.index
            }
            try store.commit(batch)
            if let applied = batch.appliedIndex ?? ready.snapshot?.metadata.index {
                owned.applier.committed(through: applied)
            }
            send(ready.messages)
            for (requestID, index, outcome) in outcomes {
                waiting.removeValue(forKey: requestID)?.resume(returning: (index, outcome))
            }
            let soft = owned.node.softState
            if soft.role != .leader && !waiting.isEmpty {
                // Entries proposed as leader may still commit under the next leader, or be
                // overwritten: the proposer cannot know which.
                for continuation in waiting.values { continuation.resume(throwing: ProposalError.outcomeUnknown) }
                waiting.removeAll()
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

    /// Snapshots the applied state and drops the log before it once enough has been applied.
    private func snapshotIfDue(_ owned: inout Core, applied: Consensus.LogIndex) throws {
        let store = owned.storage.store
        let snapshotIndex = try store.snapshotMeta()?.index ?? 0
        guard applied >= snapshotIndex + settings.snapshotIntervalEntries else { return }
        try store.saveSnapshot(
            meta: StoredSnapshotMeta(
                index: applied, term: try store.term(at: applied),
                configuration: LMDBRaftStorage.encodeConfiguration(owned.node.configuration)),
            data: owned.applier.snapshotData())
    }

    private func stop() {
        let pending = inbox.withLock { inbox -> [PendingProposal] in
            inbox.stopped = true
            defer { inbox.proposals = [] }
            return inbox.proposals
        }
        for proposal in pending { proposal.continuation.resume(throwing: ProposalError.stopped) }
        wake.finish()
        status.withLock { $0.role = .follower }
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
