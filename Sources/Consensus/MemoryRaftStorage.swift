/// The reference `RaftLogStorage`: everything in memory. Used by tests and the simulator, and
/// as the executable specification the LMDB-backed store must match.
///
/// NB: this is a class because the driver writes to it while the `RaftNode` reads it; both
/// live on one task, so it is deliberately not `Sendable`.
public final class MemoryRaftStorage: RaftLogStorage {
    public private(set) var hardState: HardState
    public private(set) var currentSnapshot: Snapshot
    /// Entries after the snapshot: `log[i]` has index `currentSnapshot.metadata.index + 1 + i`.
    public private(set) var log: [Entry] = []
    private var initialConfiguration: ConfigurationState

    /// Creates storage for a brand-new cluster member with the given initial voters.
    public init(configuration: ConfigurationState) {
        hardState = .empty
        initialConfiguration = configuration
        currentSnapshot = Snapshot(
            metadata: SnapshotMetadata(index: 0, term: 0, configuration: configuration), data: [])
    }

    private var offset: LogIndex { currentSnapshot.metadata.index }

    public func initialState() -> (HardState, ConfigurationState) {
        (hardState, currentSnapshot.metadata.configuration)
    }

    public func firstIndex() -> LogIndex { offset + 1 }

    public func lastIndex() -> LogIndex { offset + LogIndex(log.count) }

    public func term(at index: LogIndex) throws(StorageError) -> Term {
        if index < offset { throw .compacted }
        if index == offset { return currentSnapshot.metadata.term }
        if index > lastIndex() { throw .unavailable }
        return log[Int(index - offset - 1)].term
    }

    public func entries(
        from low: LogIndex, to high: LogIndex, maxBytes: Int
    ) throws(StorageError) -> [Entry] {
        precondition(low <= high, "inverted range \(low)..<\(high)")
        if low <= offset { throw .compacted }
        if high > lastIndex() + 1 { throw .unavailable }
        let slice = Array(log[Int(low - offset - 1)..<Int(high - offset - 1)])
        return limitSize(slice, maxBytes: maxBytes)
    }

    public func snapshot() throws(StorageError) -> Snapshot { currentSnapshot }

    /// Records the hard state from a `Ready`.
    public func setHardState(_ state: HardState) {
        precondition(state.term >= hardState.term, "term went backwards")
        hardState = state
    }

    /// Appends entries from a `Ready`, replacing any stored suffix they conflict with.
    public func append(_ entries: [Entry]) {
        guard let first = entries.first else { return }
        precondition(first.index <= lastIndex() + 1, "gap before entry \(first.index)")
        precondition(zip(entries, entries.dropFirst()).allSatisfy { $0.index + 1 == $1.index })
        // Entries at or before the snapshot are already covered by it.
        let usable = entries.filter { $0.index > offset }
        guard let start = usable.first?.index else { return }
        log.removeSubrange(Int(start - offset - 1)...)
        log.append(contentsOf: usable)
    }

    /// Replaces the whole log with an incoming snapshot from a `Ready`, atomically.
    public func applySnapshot(_ snapshot: Snapshot) {
        guard snapshot.metadata.index > offset else { return }
        let index = snapshot.metadata.index
        // The core only sends a snapshot here when its log conflicts with it or ends before it,
        // so every stored entry is dropped: the snapshot replaces the log in one step.
        log.removeAll()
        currentSnapshot = snapshot
        if hardState.commit < index { hardState.commit = index }
    }

    /// Records a snapshot the application took of its own state at `index` (which it has
    /// applied) and drops log entries it covers.
    public func createSnapshot(
        at index: LogIndex, configuration: ConfigurationState, data: [UInt8]
    ) throws(StorageError) {
        if index <= offset { return }
        precondition(index <= lastIndex(), "snapshot past the log end at \(index)")
        let snapshotTerm = try term(at: index)
        log.removeSubrange(..<Int(index - offset))
        currentSnapshot = Snapshot(
            metadata: SnapshotMetadata(index: index, term: snapshotTerm, configuration: configuration),
            data: data)
    }

    /// Drops the unsynced tail of the log after `index`, as a crash before fsync would.
    public func truncateSuffix(after index: LogIndex) {
        guard index >= offset, index < lastIndex() else { return }
        log.removeSubrange(Int(index - offset)...)
    }
}
