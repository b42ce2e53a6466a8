import CLMDB

/// Named projection tables: generic key/value tables the projections fold the log into.
/// Values are wrapped like log records, with the checksum bound to table name and key.
extension LogStore {
    /// LMDB names projection tables with this prefix so they can never collide with
    /// LogStore's own databases.
    static let projectionPrefix = "p:"

    /// Names of the projection tables that exist, sorted.
    public func tableNames() throws(LogStoreError) -> [String] {
        return try typed {
            try read { txn in try projectionTableNames(txn) }
        }
    }

    /// The value at `key`, or nil. Throws `corruptTable(name:key:)` on a bad value.
    public func value(in table: String, key: [UInt8]) throws(LogStoreError) -> [UInt8]? {
        return try typed {
            try Self.validateTableName(table)
            try Self.validateKey(key)
            return try read { txn in
                guard let dbi = try projectionTable(table, txn, create: false) else { return nil }
                return try key.withUnsafeBytes { keyBytes in
                    guard let value = try txn.get(dbi, key: keyBytes) else { return nil }
                    return try Self.decodeProjectionValue(value, table: table, key: keyBytes)
                }
            }
        }
    }

    /// Visits the table's entries in key order from `startKey` (inclusive; nil for the first),
    /// all from one read transaction. Return false from `body` to stop. Throws
    /// `corruptTable(name:key:)` at the first bad value.
    public func forEach(
        in table: String, from startKey: [UInt8]? = nil,
        _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool
    ) throws {
        try Self.validateTableName(table)
        try read { txn in
            guard let dbi = try projectionTable(table, txn, create: false) else { return }
            try txn.withCursor(dbi) { cursor in
                var item: Cursor.Item?
                if let startKey, !startKey.isEmpty {
                    item = try startKey.withUnsafeBytes { try cursor.seek(atLeast: $0) }
                } else {
                    item = try cursor.move(MDB_FIRST)
                }
                while let current = item {
                    let value = try Self.decodeProjectionValue(current.value, table: table, key: current.key)
                    guard try body(Array(current.key), value) else { return }
                    item = try cursor.move(MDB_NEXT)
                }
            }
        }
    }

    /// Table names are short identifiers, so they are safe in messages and metrics.
    static func validateTableName(_ name: String) throws {
        let bytes = Array(name.utf8)
        let allowed = bytes.allSatisfy { byte in
            (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x41 && byte <= 0x5a)
                || (byte >= 0x30 && byte <= 0x39) || byte == 0x2e || byte == 0x5f || byte == 0x2d
        }
        guard !bytes.isEmpty, bytes.count <= Limits.tableNameBytesMax, allowed else {
            throw LogStoreError.invalidArgument(
                "table name must be 1...\(Limits.tableNameBytesMax) bytes of [A-Za-z0-9._-]")
        }
    }

    static func decodeProjectionValue(_ value: UnsafeRawBufferPointer, table: String,
                                      key: UnsafeRawBufferPointer) throws -> [UInt8]
    {
        switch RecordCodec.decode(value, domain: .projection(table), key: key) {
        case .success(let body): return Array(body)
        case .failure: throw LogStoreError.corruptTable(name: table, key: Array(key))
        }
    }

    /// The LMDB handle of a projection table; nil if it does not exist and `create` is false.
    func projectionTable(_ name: String, _ txn: Transaction, create: Bool) throws -> MDB_dbi? {
        if let dbi = projectionTables[name] { return dbi }
        guard let dbi = try openTable(Self.projectionPrefix + name, txn, create: create) else { return nil }
        projectionTables[name] = dbi
        pendingTables.append(name)
        return dbi
    }

    func applyProjectionWrites(_ writes: [ProjectionWrite], _ txn: Transaction) throws {
        for write in writes {
            switch write {
            case .put(let table, let key, let value):
                guard let dbi = try projectionTable(table, txn, create: true) else {
                    preconditionFailure("mdb_dbi_open with MDB_CREATE returned no table")
                }
                try key.withUnsafeBytes { keyBytes in
                    let record = RecordCodec.encode(domain: .projection(table), key: keyBytes,
                                                    bodyBytes: value.count) { $0.append(contentsOf: value) }
                    try record.withUnsafeBytes { try txn.put(dbi, key: keyBytes, value: $0) }
                }
            case .delete(let table, let key):
                guard let dbi = try projectionTable(table, txn, create: false) else { continue }
                try key.withUnsafeBytes { _ = try txn.delete(dbi, key: $0) }
            case .clear(let table):
                guard let dbi = try projectionTable(table, txn, create: false) else { continue }
                try txn.empty(dbi)
            }
        }
    }
}
