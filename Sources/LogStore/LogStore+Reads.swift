import CLMDB

/// Reads. Each opens one read transaction, so what it returns is one consistent point in time
/// even while another process writes.
extension LogStore {
    /// The persisted Raft hard state; `.initial` for a new store.
    public func hardState() throws(LogStoreError) -> StoredHardState {
        return try typed {
            try read { txn in try hardState(txn) }
        }
    }

    /// The last log index whose projection writes are stored (0 before any apply).
    public func appliedIndex() throws(LogStoreError) -> UInt64 {
        return try typed {
            try read { txn in try appliedIndex(txn) }
        }
    }

    /// The first index still in the log (one past the compacted prefix).
    public var firstIndex: UInt64 {
        get throws(LogStoreError) { try typed { try read { txn in try compactedMark(txn).index + 1 } } }
    }

    /// The last index in the log, or the compacted index when the log is empty.
    public var lastIndex: UInt64 {
        get throws(LogStoreError) { try typed { try read { txn in try lastIndex(txn) } } }
    }

    /// The term of the entry at `index`. The compacted index (e.g. a snapshot's) still answers,
    /// so Raft can check the entry before the first one it sends.
    public func term(at index: UInt64) throws(LogStoreError) -> UInt64 {
        return try typed {
            try read { txn in try term(txn, at: index) }
        }
    }

    /// Entries in `[from, to)` (etcd's half-open range), stopping once their payloads exceed
    /// `maxBytes` — but always returning at least one entry, so a single large entry can make
    /// progress. Throws `compacted` below `firstIndex`, `unavailable` past `lastIndex + 1`,
    /// `corrupt(index:)` on a bad or missing record.
    public func entries(
        from: UInt64, to: UInt64, maxBytes: Int = .max
    ) throws(LogStoreError) -> [StoredEntry] {
        return try typed {
            guard from <= to else {
                throw LogStoreError.invalidArgument("entries(from: \(from), to: \(to))")
            }
            return try read { txn in
                let compacted = try compactedMark(txn)
                guard from > compacted.index else { throw LogStoreError.compacted(index: from) }
                let last = try lastIndex(txn)
                // Not `to <= last + 1`: in a damaged read-only store the last key may be UInt64.max.
                guard to - 1 <= last else { throw LogStoreError.unavailable(index: to - 1) }
                guard from < to else { return [] }
                return try txn.withCursor(tables.log) { cursor in
                    var result: [StoredEntry] = []
                    var bytes = 0
                    var expected = from
                    var item = try LogRecord.withKey(from) { try cursor.seek(atLeast: $0) }
                    while expected < to {
                        guard let current = item, let index = LogRecord.index(fromKey: current.key),
                              index == expected
                        else { throw LogStoreError.corrupt(index: expected) }
                        let entry: StoredEntry
                        switch LogRecord.decode(index: index, key: current.key, value: current.value) {
                        case .success(let decoded): entry = decoded
                        case .failure: throw LogStoreError.corrupt(index: index)
                        }
                        bytes += entry.payload.count
                        if !result.isEmpty && bytes > maxBytes { break }
                        result.append(entry)
                        expected += 1
                        item = try cursor.move(MDB_NEXT)
                    }
                    precondition(result.first.map { $0.index == from } ?? true, "entries start at from")
                    return result
                }
            }
        }
    }

    /// The latest snapshot's metadata, without its data.
    public func snapshotMeta() throws(LogStoreError) -> StoredSnapshotMeta? {
        return try typed {
            try read { txn in try snapshotMeta(txn) }
        }
    }

    /// The latest snapshot with its data.
    public func snapshot() throws(LogStoreError) -> (meta: StoredSnapshotMeta, data: [UInt8])? {
        return try typed {
            try read { txn in
                guard let meta = try snapshotMeta(txn) else { return nil }
                guard let data = try getRecord(txn, tables.snapshot, .snapshot, key: MetaKey.snapshotData,
                                               name: "snapshot data")
                else { throw LogStoreError.corruptMetadata(name: "snapshot data") }
                return (meta, data)
            }
        }
    }

    // MARK: - Inside a transaction

    func hardState(_ txn: Transaction) throws -> StoredHardState {
        guard let body = try getRecord(txn, tables.hardState, .hardState, key: MetaKey.hardState,
                                       name: "hardstate")
        else { return .initial }
        guard body.count == 24 else { throw LogStoreError.corruptMetadata(name: "hardstate") }
        return body.withUnsafeBytes {
            StoredHardState(term: $0.loadBigEndianUInt64(at: 0), vote: $0.loadBigEndianUInt64(at: 8),
                            commit: $0.loadBigEndianUInt64(at: 16))
        }
    }

    func appliedIndex(_ txn: Transaction) throws -> UInt64 {
        guard let body = try getRecord(txn, tables.meta, .meta, key: MetaKey.applied, name: "applied index")
        else { return 0 }
        guard body.count == 8 else { throw LogStoreError.corruptMetadata(name: "applied index") }
        return body.withUnsafeBytes { $0.loadBigEndianUInt64(at: 0) }
    }

    /// The (index, term) the log was compacted through; (0, 0) if never.
    func compactedMark(_ txn: Transaction) throws -> (index: UInt64, term: UInt64) {
        guard let body = try getRecord(txn, tables.meta, .meta, key: MetaKey.compacted, name: "compacted")
        else { return (0, 0) }
        guard body.count == 16 else { throw LogStoreError.corruptMetadata(name: "compacted") }
        return body.withUnsafeBytes { ($0.loadBigEndianUInt64(at: 0), $0.loadBigEndianUInt64(at: 8)) }
    }

    func lastIndex(_ txn: Transaction) throws -> UInt64 {
        let compacted = try compactedMark(txn).index
        return try txn.withCursor(tables.log) { cursor in
            var item = try cursor.move(MDB_LAST)
            while let current = item {
                if let index = LogRecord.index(fromKey: current.key) { return max(index, compacted) }
                item = try cursor.move(MDB_PREV)
            }
            return compacted
        }
    }

    func term(_ txn: Transaction, at index: UInt64) throws -> UInt64 {
        let compacted = try compactedMark(txn)
        if index == compacted.index { return compacted.term }
        guard index > compacted.index else { throw LogStoreError.compacted(index: index) }
        return try LogRecord.withKey(index) { key in
            guard let value = try txn.get(tables.log, key: key) else {
                if index <= (try lastIndex(txn)) { throw LogStoreError.corrupt(index: index) }
                throw LogStoreError.unavailable(index: index)
            }
            switch LogRecord.decodeTerm(key: key, value: value) {
            case .success(let term): return term
            case .failure: throw LogStoreError.corrupt(index: index)
            }
        }
    }

    func snapshotMeta(_ txn: Transaction) throws -> StoredSnapshotMeta? {
        guard let body = try getRecord(txn, tables.snapshot, .snapshot, key: MetaKey.snapshotMeta,
                                       name: "snapshot meta")
        else { return nil }
        return try body.withUnsafeBytes { bytes in
            guard bytes.count >= 20 else {
                throw LogStoreError.corruptMetadata(name: "snapshot meta")
            }
            let length = Int(bytes.loadBigEndianUInt32(at: 16))
            guard bytes.count == 20 + length else {
                throw LogStoreError.corruptMetadata(name: "snapshot meta")
            }
            return StoredSnapshotMeta(index: bytes.loadBigEndianUInt64(at: 0),
                                      term: bytes.loadBigEndianUInt64(at: 8),
                                      configuration: Array(bytes[20...]))
        }
    }
}
