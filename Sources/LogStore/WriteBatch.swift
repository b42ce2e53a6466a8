/// Everything one durable write transaction carries: new log entries, the hard state, projection
/// changes and the applied index. `LogStore.commit(_:)` writes it with one fsync.
///
/// Group commit: an fsync costs ~300 µs here, so a single-put transaction tops out near 3k/s.
/// The driver coalesces whatever accumulated while the previous commit was in flight with
/// `merge(_:)` until `isFull`, then commits once. `merge` applies the same rules the store
/// applies on disk (a later batch's entries replace the earlier batch's suffix from their first
/// index; the later hard state and applied index win), so committing a merged batch equals
/// committing its parts in order — except that it costs one fsync.
///
///     var batch = WriteBatch()
///     while let next = queue.first, batch.canMerge(next) { batch.merge(queue.removeFirst()) }
///     try store.commit(batch)   // then acknowledge every proposal in it
public struct WriteBatch: Equatable, Sendable {
    public private(set) var entries: [StoredEntry]
    public var hardState: StoredHardState?
    public private(set) var projectionWrites: [ProjectionWrite]
    /// The log index the projection writes bring the state machine to. Written in the same
    /// transaction as the writes, so after a crash an entry is either applied with its index
    /// recorded or not applied at all (etcd's consistent index).
    public var appliedIndex: UInt64?
    /// Entry payload plus projection key and value bytes.
    public private(set) var byteCount: Int

    public init(
        entries: [StoredEntry] = [],
        hardState: StoredHardState? = nil,
        projectionWrites: [ProjectionWrite] = [],
        appliedIndex: UInt64? = nil
    ) {
        self.entries = entries
        self.hardState = hardState
        self.projectionWrites = projectionWrites
        self.appliedIndex = appliedIndex
        self.byteCount = entries.reduce(0) { $0 + $1.payload.count }
            + projectionWrites.reduce(0) { $0 + $1.byteCount }
    }

    public var isEmpty: Bool {
        entries.isEmpty && hardState == nil && projectionWrites.isEmpty && appliedIndex == nil
    }

    /// True once another proposal should go into the next batch instead.
    public var isFull: Bool {
        entries.count >= Limits.batchEntriesMax || byteCount >= Limits.batchBytesMax
            || projectionWrites.count >= Limits.batchProjectionWritesMax
    }

    /// Whether merging `later` keeps this batch within `Limits`, so a driver can start a new
    /// batch instead of building one `commit(_:)` would refuse.
    public func canMerge(_ later: WriteBatch) -> Bool {
        entries.count + later.entries.count <= Limits.batchEntriesMax
            && byteCount + later.byteCount <= Limits.batchBytesMax
            && projectionWrites.count + later.projectionWrites.count <= Limits.batchProjectionWritesMax
    }

    /// Adds one entry. An index at or below the batch's last entry replaces that suffix, the
    /// same conflict rule `LogStore.append` applies to the stored log.
    public mutating func append(_ entry: StoredEntry) {
        if let last = entries.last, entry.index <= last.index {
            dropEntries(from: entry.index)
        }
        entries.append(entry)
        byteCount += entry.payload.count
    }

    public mutating func append(_ write: ProjectionWrite) {
        projectionWrites.append(write)
        byteCount += write.byteCount
    }

    /// Folds a later batch into this one so both commit in one transaction.
    public mutating func merge(_ later: WriteBatch) {
        for entry in later.entries { append(entry) }
        for write in later.projectionWrites { append(write) }
        if let hardState = later.hardState { self.hardState = hardState }
        if let appliedIndex = later.appliedIndex { self.appliedIndex = appliedIndex }
    }

    private mutating func dropEntries(from index: UInt64) {
        while let last = entries.last, last.index >= index {
            byteCount -= last.payload.count
            entries.removeLast()
        }
        precondition(byteCount >= 0, "WriteBatch byte count went negative")
    }
}
