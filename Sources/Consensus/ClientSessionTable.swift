/// Exactly-once application of client requests (Ongaro's thesis §6.3), as replicated state.
///
/// Each client numbers its requests and has at most one outstanding; it retries a request with
/// the same `RequestID` until it sees the result. The table remembers, per client, the highest
/// sequence applied and where. Because every replica applies the same committed entries in the
/// same order, every replica's table is identical, so it belongs in the state machine snapshot.
///
/// Guarantee: a request is applied at most once as long as its client's session is still in
/// the table. The table holds `Limits.clientSessionsMax` sessions and evicts the one idle for
/// the longest (by log index, so eviction is deterministic). NB: a retry arriving after its
/// session was evicted is indistinguishable from a new client and would apply again, so the
/// capacity must exceed the number of clients active within any client's retry window.
public struct ClientSessionTable: Sendable, Hashable {
    public enum Admission: Sendable, Hashable {
        /// First time this request is seen: apply it.
        case apply
        /// Already applied at `index`: do not apply again; answer the client as success.
        case duplicate(appliedAt: LogIndex)
    }

    struct Session: Sendable, Hashable {
        var lastSequence: UInt64
        var lastIndex: LogIndex
    }

    private(set) var sessions: [UInt64: Session] = [:]
    public let capacity: Int

    public init(capacity: Int = Limits.clientSessionsMax) {
        precondition(capacity > 0, "a session table needs room for one client")
        self.capacity = capacity
    }

    public var count: Int { sessions.count }

    /// The highest sequence applied for `client`, or nil when it has no live session.
    public func lastSequence(of client: UInt64) -> UInt64? { sessions[client]?.lastSequence }

    /// Decides whether the request in the entry at `index` takes effect, and records it.
    public mutating func admit(_ requestID: RequestID, at index: LogIndex) -> Admission {
        guard !requestID.isNone else { return .apply }
        if let session = sessions[requestID.client] {
            if requestID.sequence <= session.lastSequence {
                return .duplicate(appliedAt: session.lastIndex)
            }
        }
        sessions[requestID.client] = Session(lastSequence: requestID.sequence, lastIndex: index)
        evictIfFull()
        return .apply
    }

    private mutating func evictIfFull() {
        guard sessions.count > capacity else { return }
        // Ties are impossible: each index admits one request, so last indices are distinct.
        let oldest = sessions.min { $0.value.lastIndex < $1.value.lastIndex }!
        sessions[oldest.key] = nil
        precondition(sessions.count == capacity)
    }

    /// A canonical encoding, for snapshots and for comparing replicas.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.writeVarint(UInt64(sessions.count))
        for client in sessions.keys.sorted() {
            writer.writeVarint(client)
            writer.writeVarint(sessions[client]!.lastSequence)
            writer.writeVarint(sessions[client]!.lastIndex)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8], capacity: Int = Limits.clientSessionsMax) throws(DecodingError) {
        self.init(capacity: capacity)
        var reader = ByteReader(bytes)
        let count = try reader.readCount(maximum: capacity, "sessions")
        for _ in 0..<count {
            let client = try reader.readVarint()
            let session = Session(lastSequence: try reader.readVarint(), lastIndex: try reader.readVarint())
            sessions[client] = session
        }
        guard reader.isAtEnd else { throw .trailingBytes }
    }
}
