/// Everything the driver must do after feeding the node some input.
///
/// Handle the fields in this order, then call `RaftNode.advance(_:)` with the same value:
/// 1. Persist `snapshot` (if any), then `entries`, then `hardState`, as one atomic write when
///    possible; fsync before continuing when `mustSync` is true.
/// 2. Only then send `messages`. NB: a vote or an append acknowledgement in `messages` is a
///    promise about the state persisted in step 1; sending it first lets a crash break it.
///    One exception (Ongaro's thesis §10.2.1): a leader's messages, in a `Ready` that changes
///    neither term nor vote, promise nothing about its disk and may leave before step 1 — as
///    long as no acknowledgement is stepped until step 1 is done, because the leader counts
///    its own copy of new entries as stored when it appends them.
/// 3. Restore the state machine from `snapshot` (if any), then apply `committedEntries` in order.
/// 4. Serve `readStates` once the state machine has applied at least each one's index.
/// `step`, `tick` and the request methods may be called between `ready()` and `advance(_:)`,
/// but `ready()` must not be called again until `advance(_:)`.
public struct Ready: Sendable, Hashable {
    /// The new leader and role, when either changed.
    public var softState: SoftState?
    /// The hard state to persist, when it changed.
    public var hardState: HardState?
    /// Whether step 1 needs an fsync: true when there are entries or a snapshot, or the term or
    /// vote changed.
    /// A commit-index-only change may be written lazily; it is recovered from the leader.
    public var mustSync: Bool
    /// An incoming snapshot that replaces the log and the state machine.
    public var snapshot: Snapshot?
    /// Entries to append to stable storage (replacing any stored suffix from their first index).
    public var entries: [Entry]
    /// Messages to send after persisting.
    public var messages: [Message]
    /// Entries committed by a quorum, to apply in order after persisting.
    public var committedEntries: [Entry]
    /// Confirmed ReadIndex results.
    public var readStates: [ReadState]

    public init(
        softState: SoftState? = nil, hardState: HardState? = nil, mustSync: Bool = false,
        snapshot: Snapshot? = nil, entries: [Entry] = [], messages: [Message] = [],
        committedEntries: [Entry] = [], readStates: [ReadState] = []
    ) {
        self.softState = softState
        self.hardState = hardState
        self.mustSync = mustSync
        self.snapshot = snapshot
        self.entries = entries
        self.messages = messages
        self.committedEntries = committedEntries
        self.readStates = readStates
    }
}

extension RaftNode {
    /// Collects pending work, or returns nil when there is none. Moves messages and read
    /// states out of the node; the rest is acknowledged by `advance(_:)`.
    public mutating func ready() -> Ready? {
        precondition(!readyOutstanding, "ready() called twice without advance(_:)")
        let persistable = persistableHardState
        let ready = Ready(
            softState: softState == reportedSoftState ? nil : softState,
            hardState: persistable == reportedHardState ? nil : persistable,
            mustSync: !log.unstableEntries.isEmpty || log.unstableSnapshot != nil
                || persistable.term != reportedHardState.term
                || persistable.vote != reportedHardState.vote,
            snapshot: log.unstableSnapshot,
            entries: log.unstableEntries,
            messages: messages,
            committedEntries: log.nextCommittedEntries(maxBytes: Limits.committedEntriesBytesMax),
            readStates: readStates)
        let isEmpty = ready.softState == nil && ready.hardState == nil && ready.snapshot == nil
            && ready.entries.isEmpty && ready.messages.isEmpty && ready.committedEntries.isEmpty
            && ready.readStates.isEmpty
        if isEmpty { return nil }
        messages = []
        readStates = []
        readyOutstanding = true
        return ready
    }

    /// Tells the node that `ready` has been persisted, sent and applied.
    public mutating func advance(_ ready: Ready) {
        precondition(readyOutstanding, "advance(_:) without a matching ready()")
        readyOutstanding = false
        if let softState = ready.softState { reportedSoftState = softState }
        if let hardState = ready.hardState { reportedHardState = hardState }
        if let snapshot = ready.snapshot { log.stableSnapshot(to: snapshot.metadata.index) }
        if let last = ready.entries.last { log.stable(to: last.index, term: last.term) }
        for entry in ready.committedEntries {
            // A snapshot installed after `ready()` already covers these entries.
            if entry.index <= log.applied { continue }
            precondition(entry.index == log.applied + 1, "committed entries out of order")
            log.advanceApplied(to: entry.index)
            if entry.kind == .configurationChange { applyConfigurationEntry(entry) }
        }
    }

    /// Whether `ready()` would return work; cheap enough for a driver's loop condition.
    public var hasReady: Bool {
        !messages.isEmpty || !readStates.isEmpty || !log.unstableEntries.isEmpty
            || log.unstableSnapshot != nil || softState != reportedSoftState
            || persistableHardState != reportedHardState || log.committed > log.applied
    }

    /// The hard state as reported for persisting (which a mutation may deliberately corrupt).
    var persistableHardState: HardState {
        var state = hardState
        if mutations.contains(.skipVotePersistence) { state.vote = noNode }
        return state
    }
}
