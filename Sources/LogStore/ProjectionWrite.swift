/// One change to a named projection table. Tables are created on first write.
public enum ProjectionWrite: Equatable, Hashable, Sendable {
    case put(table: String, key: [UInt8], value: [UInt8])
    /// Deleting a missing key is not an error: replaying an apply must be harmless.
    case delete(table: String, key: [UInt8])
    /// Removes every key of a table (used when a snapshot replaces the projection state).
    case clear(table: String)

    public var table: String {
        switch self {
        case .put(let table, _, _), .delete(let table, _), .clear(let table): return table
        }
    }

    var byteCount: Int {
        switch self {
        case .put(_, let key, let value): return key.count + value.count
        case .delete(_, let key): return key.count
        case .clear: return 0
        }
    }
}
