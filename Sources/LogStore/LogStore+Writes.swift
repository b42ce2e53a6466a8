import CLMDB

/// Writes. Each public method is one LMDB write transaction: all of it becomes durable with one
/// fsync at commit, or none of it does.
extension LogStore {
    /// Appends `entries` and, optionally, the hard state in one transaction.
    ///
    /// Entries must be contiguous with non-decreasing terms. If the first index is at or below
    /// `lastIndex`, the stored suffix from that index is replaced: the caller (Raft) guarantees
    /// this is a real conflict. Replacing a committed entry is refused, except while the store is
    /// degraded and the append starts at or below the corrupt index — that is the repair path,
    /// and Raft's log matching makes the re-sent committed entries identical to the lost ones.
    public func append(
        _ entries: [StoredEntry], hardState: StoredHardState? = nil
    ) throws(LogStoreError) {
        try commit(WriteBatch(entries: entries, hardState: hardState))
    }

    /// Persists term, vote and commit. Raft needs this durable before answering a vote.
    public func setHardState(_ state: StoredHardState) throws(LogStoreError) {
        try commit(WriteBatch(hardState: state))
    }

    /// Writes projection changes and the applied index together, so a crash never loses an
    /// apply nor lets one happen twice (etcd's consistent index). `appliedIndex` must grow.
    public func applyBatch(
        projectionWrites: [ProjectionWrite], appliedIndex: UInt64
    ) throws(LogStoreError) {
        try commit(WriteBatch(projectionWrites: projectionWrites, appliedIndex: appliedIndex))
    }

    /// Group commit: entries, hard state, projection writes and applied index in one
    /// transaction with one fsync. See `WriteBatch.merge(_:)` for coalescing proposals.
    ///
    /// `syncMeta: false` is for a batch whose loss in a *system* crash is harmless: one that
    /// only applies committed entries (projection writes, applied index, commit index), which
    /// replay re-derives from the durable log. It commits with LMDB's `MDB_NOMETASYNC`: the data
    /// pages are still flushed before the meta page is written, so the store stays consistent
    /// (LMDB keeps atomicity and integrity under that flag), but the meta page is not flushed,
    /// so a power cut may roll the store back to the previous commit. The next synced commit
    /// flushes it along with its own pages. A process crash loses nothing (the page cache
    /// survives). Never for new entries or a term or vote: those are promises to peers.
    public func commit(_ batch: WriteBatch, syncMeta: Bool = true) throws(LogStoreError) {
        try typed {
            try Self.validate(batch)
            if batch.isEmpty { return }
            let deferMeta = !syncMeta && options.syncOnCommit && !options.readOnly
            if deferMeta, let env {
                // The store has one owner calling from one thread at a time, so no other write
                // transaction can commit while the flag is set.
                try LMDBContext(env: env, path: directory).check(
                    mdb_env_set_flags(env, UInt32(MDB_NOMETASYNC), 1), "mdb_env_set_flags")
            }
            defer {
                if deferMeta, let env { _ = mdb_env_set_flags(env, UInt32(MDB_NOMETASYNC), 0) }
            }
            let repairs = try write { txn -> Bool in
                var repairs = false
                if !batch.entries.isEmpty { repairs = try appendEntries(batch.entries, txn) }
                if let hardState = batch.hardState { try putHardState(hardState, txn) }
                try applyProjectionWrites(batch.projectionWrites, txn)
                if let applied = batch.appliedIndex { try putAppliedIndex(applied, txn) }
                try updateCommitGap(txn)
                return repairs
            }
            if repairs { corruptRecordIndex = nil }
        }
    }

    /// Whether LMDB's `MDB_NOMETASYNC` is set on the environment (only inside an unsynced
    /// `commit(_:syncMeta:)`; tests check that it never outlives one).
    var isMetaSyncDeferred: Bool {
        guard let env else { return false }
        var flags: UInt32 = 0
        guard mdb_env_get_flags(env, &flags) == MDB_SUCCESS else { return false }
        return flags & UInt32(MDB_NOMETASYNC) != 0
    }

    /// Drops log entries through `index`, which a saved snapshot must cover. `term(at: index)`
    /// keeps answering afterwards.
    public func compact(through index: UInt64) throws(LogStoreError) {
        try typed {
            try write { txn in
                let compacted = try compactedMark(txn)
                guard index > compacted.index else { throw LogStoreError.compacted(index: index) }
                guard index <= (try lastIndex(txn)) else {
                    throw LogStoreError.unavailable(index: index)
                }
                guard let snapshot = try snapshotMeta(txn), index <= snapshot.index else {
                    throw LogStoreError.invalidArgument(
                        "compact(through: \(index)) needs a snapshot covering it")
                }
                let term = index == snapshot.index ? snapshot.term : try term(txn, at: index)
                try deleteLogPrefix(through: index, txn)
                try putCompactedMark(index: index, term: term, txn)
                try updateCommitGap(txn)
            }
            if let corrupt = corruptRecordIndex, corrupt <= index { try refreshHealth() }
        }
    }

    /// Stores a snapshot and atomically replaces the log up to it: if the log holds the
    /// snapshot's last entry with the same term, entries after it are kept (etcd's rule);
    /// otherwise the whole log is discarded. Projection writes (typically `.clear` of every
    /// table and the snapshot's contents) and the applied index go into the same transaction,
    /// so installing a snapshot from a leader is all-or-nothing.
    public func saveSnapshot(
        meta: StoredSnapshotMeta, data: [UInt8],
        projectionWrites: [ProjectionWrite] = [], appliedIndex: UInt64? = nil
    ) throws(LogStoreError) {
        try typed {
            guard meta.configuration.count <= Limits.snapshotConfigurationBytesMax else {
                throw LogStoreError.limitExceeded(
                    "snapshot configuration over \(Limits.snapshotConfigurationBytesMax) bytes")
            }
            guard data.count <= Limits.snapshotDataBytesMax else {
                throw LogStoreError.limitExceeded(
                    "snapshot data over \(Limits.snapshotDataBytesMax) bytes")
            }
            try Self.validate(WriteBatch(projectionWrites: projectionWrites))
            try write { txn in
                let compacted = try compactedMark(txn)
                guard meta.index > compacted.index, meta.index < .max else {
                    throw LogStoreError.invalidArgument(
                        "snapshot at \(meta.index) is not past compacted index \(compacted.index)")
                }
                if try storedTermIfReadable(at: meta.index, txn) == meta.term {
                    try deleteLogPrefix(through: meta.index, txn)
                } else {
                    try txn.empty(tables.log)
                }
                var body: [UInt8] = []
                body.appendBigEndian(meta.index)
                body.appendBigEndian(meta.term)
                body.appendBigEndian(UInt32(meta.configuration.count))
                body.append(contentsOf: meta.configuration)
                try putRecord(txn, tables.snapshot, .snapshot, key: MetaKey.snapshotMeta, body: body)
                try putRecord(txn, tables.snapshot, .snapshot, key: MetaKey.snapshotData, body: data)
                try putCompactedMark(index: meta.index, term: meta.term, txn)
                try applyProjectionWrites(projectionWrites, txn)
                if let appliedIndex { try putAppliedIndex(appliedIndex, txn) }
                try updateCommitGap(txn)
            }
            if corruptRecordIndex != nil { try refreshHealth() }
        }
    }

    // MARK: - Validation (before any transaction starts)

    static func validate(_ batch: WriteBatch) throws {
        guard batch.entries.count <= Limits.batchEntriesMax else {
            throw LogStoreError.limitExceeded(
                "\(batch.entries.count) entries in one batch (max \(Limits.batchEntriesMax))")
        }
        guard batch.byteCount <= Limits.batchBytesMax else {
            throw LogStoreError.limitExceeded(
                "\(batch.byteCount) bytes in one batch (max \(Limits.batchBytesMax))")
        }
        guard batch.projectionWrites.count <= Limits.batchProjectionWritesMax else {
            throw LogStoreError.limitExceeded(
                "\(batch.projectionWrites.count) projection writes in one batch")
        }
        var previous: StoredEntry?
        for entry in batch.entries {
            guard entry.payload.count <= Limits.entryPayloadBytesMax else {
                throw LogStoreError.limitExceeded(
                    "entry \(entry.index) payload of \(entry.payload.count) bytes "
                        + "(max \(Limits.entryPayloadBytesMax))")
            }
            guard entry.index > 0, entry.index < .max else {
                throw LogStoreError.invalidArgument("log indexes are 1..<UInt64.max")
            }
            if let previous {
                guard entry.index == previous.index + 1 else {
                    throw LogStoreError.invalidArgument(
                        "entries not contiguous: \(previous.index) then \(entry.index)")
                }
                guard entry.term >= previous.term else {
                    throw LogStoreError.invalidArgument("term decreases at index \(entry.index)")
                }
            }
            previous = entry
        }
        for write in batch.projectionWrites {
            try validateTableName(write.table)
            switch write {
            case .put(_, let key, let value):
                try validateKey(key)
                guard value.count <= Limits.projectionValueBytesMax else {
                    throw LogStoreError.limitExceeded(
                        "projection value of \(value.count) bytes (max \(Limits.projectionValueBytesMax))")
                }
            case .delete(_, let key):
                try validateKey(key)
            case .clear:
                break
            }
        }
    }

    static func validateKey(_ key: [UInt8]) throws {
        guard !key.isEmpty, key.count <= Limits.projectionKeyBytesMax else {
            throw LogStoreError.limitExceeded(
                "projection key of \(key.count) bytes (1...\(Limits.projectionKeyBytesMax))")
        }
    }

    // MARK: - Inside a write transaction

    /// Returns true when the append replaced every known corrupt record (repair).
    private func appendEntries(_ entries: [StoredEntry], _ txn: Transaction) throws -> Bool {
        let first = entries[0].index
        let compacted = try compactedMark(txn)
        guard first > compacted.index else {
            throw LogStoreError.invalidArgument(
                "append at \(first) is at or below compacted index \(compacted.index)")
        }
        let last = try lastIndex(txn)
        guard first - 1 <= last else {
            throw LogStoreError.invalidArgument(
                "append at \(first) leaves a gap after last index \(last)")
        }
        let repairs = corruptRecordIndex.map { first <= $0 } ?? false
        if first <= last {
            let commit = try hardState(txn).commit
            guard first > commit || repairs else {
                throw LogStoreError.invalidArgument(
                    "append at \(first) would replace committed entries (commit \(commit))")
            }
            try deleteLogSuffix(from: first, txn)
        }
        let previousTerm = first - 1 == compacted.index ? compacted.term : try term(txn, at: first - 1)
        guard entries[0].term >= previousTerm else {
            throw LogStoreError.invalidArgument(
                "term \(entries[0].term) at \(first) is below previous term \(previousTerm)")
        }
        for entry in entries {
            let record = LogRecord.encode(entry)
            try LogRecord.withKey(entry.index) { key in
                try record.withUnsafeBytes { try txn.put(tables.log, key: key, value: $0, flags: MDB_APPEND) }
            }
        }
        let newLast = try lastIndex(txn)
        precondition(newLast == entries[entries.count - 1].index, "append left lastIndex elsewhere")
        return repairs
    }

    private func putHardState(_ state: StoredHardState, _ txn: Transaction) throws {
        var body: [UInt8] = []
        body.appendBigEndian(state.term)
        body.appendBigEndian(state.vote)
        body.appendBigEndian(state.commit)
        try putRecord(txn, tables.hardState, .hardState, key: MetaKey.hardState, body: body)
    }

    private func putAppliedIndex(_ index: UInt64, _ txn: Transaction) throws {
        let current = try appliedIndex(txn)
        guard index > current else {
            throw LogStoreError.invalidArgument(
                "applied index \(index) does not advance past \(current)")
        }
        var body: [UInt8] = []
        body.appendBigEndian(index)
        try putRecord(txn, tables.meta, .meta, key: MetaKey.applied, body: body)
    }

    private func putCompactedMark(index: UInt64, term: UInt64, _ txn: Transaction) throws {
        var body: [UInt8] = []
        body.appendBigEndian(index)
        body.appendBigEndian(term)
        try putRecord(txn, tables.meta, .meta, key: MetaKey.compacted, body: body)
    }

    func updateCommitGap(_ txn: Transaction) throws {
        let commit = try hardState(txn).commit
        let last = try lastIndex(txn)
        commitGapIndex = commit > last ? last + 1 : nil
    }

    /// The stored term at `index`, or nil when the record is missing or unreadable.
    private func storedTermIfReadable(at index: UInt64, _ txn: Transaction) throws -> UInt64? {
        do {
            return try term(txn, at: index)
        } catch let error as LogStoreError {
            switch error {
            case .corrupt, .unavailable, .compacted: return nil
            default: throw error
            }
        }
    }

    /// Deletes every log key at or after `from`, including malformed keys sorting there.
    func deleteLogSuffix(from: UInt64, _ txn: Transaction) throws {
        try txn.withCursor(tables.log) { cursor in
            while let current = try cursor.move(MDB_LAST) {
                if let index = LogRecord.index(fromKey: current.key), index < from { break }
                try cursor.deleteCurrent()
            }
        }
    }

    /// Deletes every log key at or before `through`, including malformed keys sorting there.
    private func deleteLogPrefix(through: UInt64, _ txn: Transaction) throws {
        try txn.withCursor(tables.log) { cursor in
            while let current = try cursor.move(MDB_FIRST) {
                if let index = LogRecord.index(fromKey: current.key), index > through { break }
                try cursor.deleteCurrent()
            }
        }
    }
}
