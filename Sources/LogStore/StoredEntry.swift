/// One log entry as the store keeps it. The payload is opaque: the Raft driver encodes its own
/// entry type (normal, configuration change, no-op) into it.
public struct StoredEntry: Equatable, Hashable, Sendable {
    /// Position in the log, starting at 1.
    public var index: UInt64
    /// Raft term in which the entry was proposed.
    public var term: UInt64
    /// Opaque bytes, at most `Limits.entryPayloadBytesMax`.
    public var payload: [UInt8]

    public init(index: UInt64, term: UInt64, payload: [UInt8]) {
        self.index = index
        self.term = term
        self.payload = payload
    }
}
