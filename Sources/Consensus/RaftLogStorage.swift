/// Errors a `RaftLogStorage` reports. These are sentinels the core reacts to, not failures.
public enum StorageError: Error, Sendable, Hashable {
    /// The requested index is at or before the snapshot; only the snapshot covers it now.
    case compacted
    /// The requested index is past the last stored entry.
    case unavailable
    /// A snapshot is being produced and is not ready yet; ask again later.
    case snapshotTemporarilyUnavailable
}

/// Read access to durably stored Raft state. Raft only ever reads through this protocol; all
/// writes reach the application through `Ready` and the application stores them itself.
///
/// Entries returned are copies (Swift arrays are values), so callers may keep them. The storage
/// holds a log `[firstIndex, lastIndex]` that follows a snapshot at `firstIndex - 1`; the term of
/// that snapshot index stays answerable through `term(at:)`.
public protocol RaftLogStorage: AnyObject {
    /// The persisted hard state and the configuration at the last snapshot (or initial).
    func initialState() -> (HardState, ConfigurationState)
    /// Entries in `[low, high)`, trimmed to `maxBytes` but never empty when the range is not.
    func entries(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry]
    /// The term of the entry at `index`, including the snapshot's own index.
    func term(at index: LogIndex) throws(StorageError) -> Term
    /// The index of the first entry that `entries` can return.
    func firstIndex() -> LogIndex
    /// The index of the last stored entry (or the snapshot index if the log is empty).
    func lastIndex() -> LogIndex
    /// The most recent snapshot.
    func snapshot() throws(StorageError) -> Snapshot
}
