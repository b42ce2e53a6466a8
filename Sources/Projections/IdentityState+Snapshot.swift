/// `IdentityState` ⇄ the bytes of a Raft snapshot: the canonical table rows, so a snapshot
/// restores through the same validated path as the stored tables (`restore(tables:)`).
extension IdentityState {
    /// A `RowFormat` record: the row count, then table, key and value of each row in canonical
    /// order. Equal states give equal bytes.
    public func snapshotBytes() -> [UInt8] {
        let rows = tableRows()
        var writer = RowFormat.Writer()
        writer.integer(UInt64(rows.count))
        for row in rows {
            writer.field(Array(row.table.utf8))
            writer.field(row.key)
            writer.field(row.value)
        }
        return writer.bytes
    }

    /// Rebuilds the state a snapshot holds; every row is validated as stored tables are.
    public static func restore(snapshotBytes bytes: [UInt8]) throws(ProjectionTableError) -> IdentityState {
        var tables: [String: [[UInt8]: [UInt8]]] = [:]
        do throws(RowFormat.Failure) {
            var reader = try RowFormat.Reader(bytes)
            let count = try reader.integer()
            // Each row takes at least 12 bytes, so a count beyond that is a lie, not a reason to loop.
            guard count <= UInt64(bytes.count / 12) else {
                throw RowFormat.Failure(reason: "row count \(count) exceeds what \(bytes.count) bytes can hold")
            }
            for _ in 0..<count {
                let table = String(decoding: try reader.field(), as: UTF8.self)
                let key = try reader.field()
                let value = try reader.field()
                guard tables[table, default: [:]].updateValue(value, forKey: key) == nil else {
                    throw RowFormat.Failure(reason: "duplicate key in \(table)")
                }
            }
            try reader.finish()
        } catch {
            throw .malformedRow(table: "snapshot", reason: error.reason)
        }
        return try restore(tables: tables)
    }
}
