import CLMDB

/// What error mapping needs to know about the environment.
struct LMDBContext {
    let env: OpaquePointer
    let path: String

    func error(_ code: Int32, _ operation: String) -> LogStoreError {
        LogStoreError.from(lmdb: code, operation: operation, env: env, path: path)
    }

    func check(_ code: Int32, _ operation: String) throws {
        if code != MDB_SUCCESS { throw error(code, operation) }
    }
}

/// A live LMDB transaction. Valid only inside the closure that received it; the pointers it
/// hands out point into LMDB's map and are valid only until the transaction ends.
struct Transaction {
    let raw: OpaquePointer
    let context: LMDBContext
    let isReadOnly: Bool

    func get(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var keyValue = MDB_val(key)
        var value = MDB_val()
        let code = mdb_get(raw, dbi, &keyValue, &value)
        if code == MDB_NOTFOUND { return nil }
        try context.check(code, "mdb_get")
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }

    func put(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer,
             flags: Int32 = 0) throws
    {
        precondition(!isReadOnly, "put in a read-only transaction")
        var keyValue = MDB_val(key)
        var dataValue = MDB_val(value)
        try context.check(mdb_put(raw, dbi, &keyValue, &dataValue, UInt32(flags)), "mdb_put")
    }

    func put(_ dbi: MDB_dbi, key: [UInt8], value: [UInt8]) throws {
        try key.withUnsafeBytes { keyBytes in
            try value.withUnsafeBytes { try put(dbi, key: keyBytes, value: $0) }
        }
    }

    /// Returns false when the key was absent.
    @discardableResult
    func delete(_ dbi: MDB_dbi, key: UnsafeRawBufferPointer) throws -> Bool {
        precondition(!isReadOnly, "delete in a read-only transaction")
        var keyValue = MDB_val(key)
        let code = mdb_del(raw, dbi, &keyValue, nil)
        if code == MDB_NOTFOUND { return false }
        try context.check(code, "mdb_del")
        return true
    }

    /// Removes every key of a database but keeps the database.
    func empty(_ dbi: MDB_dbi) throws {
        precondition(!isReadOnly, "mdb_drop in a read-only transaction")
        try context.check(mdb_drop(raw, dbi, 0), "mdb_drop")
    }

    func withCursor<R>(_ dbi: MDB_dbi, _ body: (Cursor) throws -> R) throws -> R {
        var cursor: OpaquePointer?
        try context.check(mdb_cursor_open(raw, dbi, &cursor), "mdb_cursor_open")
        guard let cursor else { preconditionFailure("mdb_cursor_open returned no cursor") }
        defer { mdb_cursor_close(cursor) }
        return try body(Cursor(raw: cursor, context: context))
    }
}

/// A cursor inside a `Transaction`.
struct Cursor {
    typealias Item = (key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)

    let raw: OpaquePointer
    let context: LMDBContext

    /// Moves with `MDB_FIRST`, `MDB_LAST`, `MDB_NEXT`, `MDB_PREV`; nil at either end.
    func move(_ operation: MDB_cursor_op) throws -> Item? {
        var key = MDB_val()
        var value = MDB_val()
        let code = mdb_cursor_get(raw, &key, &value, operation)
        if code == MDB_NOTFOUND { return nil }
        try context.check(code, "mdb_cursor_get")
        return (UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    /// Positions at the first key greater than or equal to `key`.
    func seek(atLeast key: UnsafeRawBufferPointer) throws -> Item? {
        var keyValue = MDB_val(key)
        var value = MDB_val()
        let code = mdb_cursor_get(raw, &keyValue, &value, MDB_SET_RANGE)
        if code == MDB_NOTFOUND { return nil }
        try context.check(code, "mdb_cursor_get(MDB_SET_RANGE)")
        return (UnsafeRawBufferPointer(start: keyValue.mv_data, count: keyValue.mv_size),
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
    }

    func deleteCurrent() throws {
        try context.check(mdb_cursor_del(raw, 0), "mdb_cursor_del")
    }
}

extension MDB_val {
    /// A view of caller-owned bytes. LMDB only reads input values (no `MDB_RESERVE` here).
    init(_ bytes: UnsafeRawBufferPointer) {
        self.init(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
    }
}
