import Consensus
import IdentityModel
import LogStore
import Projections

/// Exactly-once apply across leader changes: the Raft request IDs of the most recently applied
/// entries, each with where it applied and what came of it.
///
/// A follower forwards a write under one request ID and retries with the same ID after a
/// failed connection or a leader change; two leaders can then each append a copy. Every
/// replica applies the same entries in the same order through this table, so every replica
/// skips the same second copies, and a caller waiting for either copy gets the first copy's
/// outcome. The table is replicated state: it is stored beside the projections (its own LMDB
/// table, in the same transaction) and travels in snapshots.
///
/// Unlike `Consensus.ClientSessionTable` (one outstanding request per client), a server has
/// many requests in flight at once whose entries commit in any order, so whole request IDs are
/// remembered, not a highest sequence per client. Bound: `Limits.recentRequestsMax` entries,
/// the oldest (lowest index) evicted first — deterministic, as the order is the log's. A retry
/// arriving after its first copy was evicted would apply again; the capacity covers far more
/// writes than arrive within one retry window (`Limits.leaderWait`).
public struct RecentRequests: Sendable, Hashable {
    /// What the first copy did; enough for a later copy's caller to get the same answer.
    public enum Result: Sendable, Hashable {
        case applied
        case rejected(Rejection.Category, reason: String)
    }

    public struct Record: Sendable, Hashable {
        public var index: Consensus.LogIndex
        public var result: Result
    }

    /// The LMDB table beside the projections.
    public static let table = "recent_requests"
    /// A rejection's description is kept up to this many bytes (rejections name IDs; they are short).
    static let reasonBytesMax = 1024

    public let capacity: Int
    private(set) var records: [Consensus.RequestID: Record] = [:]
    /// Request IDs in apply order; `order[head...]` are live.
    private var order: [Consensus.RequestID] = []
    private var head = 0

    public init(capacity: Int = Limits.recentRequestsMax) {
        precondition(capacity > 0, "the request table needs room for one request")
        self.capacity = capacity
    }

    public var count: Int { records.count }

    public func record(of requestID: Consensus.RequestID) -> Record? { records[requestID] }

    /// The outcome a caller of `requestID` gets when its entry was applied earlier.
    public static func outcome(_ record: Record) -> ApplyOutcome {
        switch record.result {
        case .applied: .applied([])
        case .rejected(let category, let reason):
            .rejected(.repeatedRequest(firstIndex: LogIndex(record.index), category: category, reason: reason))
        }
    }

    /// Records the first copy of `requestID`, applied at `index`; returns the table writes (the
    /// new row, and the deletion of an evicted one).
    public mutating func insert(_ requestID: Consensus.RequestID, at index: Consensus.LogIndex, outcome: ApplyOutcome) -> [ProjectionWrite] {
        precondition(!requestID.isNone && records[requestID] == nil, "request \(requestID) recorded twice")
        precondition(order.last.map { records[$0]!.index < index } ?? true, "requests are recorded in log order")
        let result: Result = switch outcome {
        case .applied: .applied
        case .rejected(let rejection): .rejected(rejection.category, reason: Self.truncated("\(rejection)"))
        }
        let record = Record(index: index, result: result)
        records[requestID] = record
        order.append(requestID)
        var writes: [ProjectionWrite] = [.put(table: Self.table, key: Self.key(requestID), value: Self.value(record))]
        if records.count > capacity {
            let oldest = order[head]
            head += 1
            records[oldest] = nil
            writes.append(.delete(table: Self.table, key: Self.key(oldest)))
            if head > 1024 && head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
        }
        precondition(records.count <= capacity && order.count - head == records.count, "the order tracks the records")
        return writes
    }

    // MARK: - Rows and snapshots

    /// Key: client then sequence, 8 bytes each, big-endian.
    static func key(_ requestID: Consensus.RequestID) -> [UInt8] {
        bigEndian(requestID.client) + bigEndian(requestID.sequence)
    }

    /// Value: format 1, index (8 bytes), kind (0 applied, 1 rejected), category, reason.
    static func value(_ record: Record) -> [UInt8] {
        var bytes: [UInt8] = [1] + bigEndian(record.index)
        switch record.result {
        case .applied: bytes += [0, 0]
        case .rejected(let category, let reason): bytes += [1, category.rawValue] + Array(reason.utf8)
        }
        return bytes
    }

    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    static func decodeRow(key: [UInt8], value: [UInt8]) throws(Malformed) -> (Consensus.RequestID, Record) {
        guard key.count == 16 else { throw Malformed(description: "\(table): a key of \(key.count) bytes, not 16") }
        guard value.count >= 11, value[0] == 1, value.count <= 11 + reasonBytesMax else {
            throw Malformed(description: "\(table): a row of \(value.count) bytes or an unknown format")
        }
        let requestID = Consensus.RequestID(client: integer(key[0..<8]), sequence: integer(key[8..<16]))
        guard !requestID.isNone else { throw Malformed(description: "\(table): a row for no request") }
        let index = integer(value[1..<9])
        let result: Result
        switch (value[9], Rejection.Category(rawValue: value[10])) {
        case (0, _) where value.count == 11: result = .applied
        case (1, .some(let category)): result = .rejected(category, reason: String(decoding: value[11...], as: UTF8.self))
        default: throw Malformed(description: "\(table): request \(requestID) has an unknown outcome")
        }
        return (requestID, Record(index: index, result: result))
    }

    /// Rebuilds the table from its rows (any order); the log order is the index order.
    public init(rows: [(key: [UInt8], value: [UInt8])], capacity: Int = Limits.recentRequestsMax) throws(Malformed) {
        self.init(capacity: capacity)
        guard rows.count <= capacity else { throw Malformed(description: "\(Self.table): \(rows.count) rows, more than \(capacity)") }
        var decoded: [(Consensus.RequestID, Record)] = []
        for row in rows { decoded.append(try Self.decodeRow(key: row.key, value: row.value)) }
        decoded.sort { $0.1.index < $1.1.index }
        for (offset, (requestID, record)) in decoded.enumerated() {
            guard records[requestID] == nil, offset == 0 || decoded[offset - 1].1.index < record.index else {
                throw Malformed(description: "\(Self.table): two rows for one request or one index (\(record.index))")
            }
            records[requestID] = record
            order.append(requestID)
        }
    }

    /// Every row, in log order.
    public var rows: [(key: [UInt8], value: [UInt8])] {
        order[head...].map { (Self.key($0), Self.value(records[$0]!)) }
    }

    /// The writes that make the stored table equal to this one.
    public var fullTableWrites: [ProjectionWrite] {
        [.clear(table: Self.table)] + rows.map { .put(table: Self.table, key: $0.key, value: $0.value) }
    }

    /// Rows as one byte string for a snapshot: count, then each key and length-prefixed value.
    public func encoded() -> [UInt8] {
        var bytes = Self.bigEndian(UInt64(count))
        for row in rows {
            bytes += row.key + Self.bigEndian(UInt64(row.value.count)) + row.value
        }
        return bytes
    }

    public init(decoding bytes: ArraySlice<UInt8>, capacity: Int = Limits.recentRequestsMax) throws(Malformed) {
        var offset = bytes.startIndex
        func take(_ length: Int) throws(Malformed) -> ArraySlice<UInt8> {
            guard length >= 0, bytes.endIndex - offset >= length else {
                throw Malformed(description: "\(Self.table): the snapshot's request table is truncated")
            }
            defer { offset += length }
            return bytes[offset..<offset + length]
        }
        let count = Self.integer(try take(8))
        guard count <= UInt64(capacity) else { throw Malformed(description: "\(Self.table): \(count) rows, more than \(capacity)") }
        var rows: [(key: [UInt8], value: [UInt8])] = []
        for _ in 0..<count {
            let key = Array(try take(16))
            let length = Self.integer(try take(8))
            guard length <= UInt64(11 + Self.reasonBytesMax) else { throw Malformed(description: "\(Self.table): a row of \(length) bytes") }
            rows.append((key, Array(try take(Int(length)))))
        }
        guard offset == bytes.endIndex else { throw Malformed(description: "\(Self.table): trailing bytes after the request table") }
        try self.init(rows: rows, capacity: capacity)
    }

    public static func == (lhs: RecentRequests, rhs: RecentRequests) -> Bool {
        lhs.capacity == rhs.capacity && lhs.records == rhs.records && lhs.order[lhs.head...] == rhs.order[rhs.head...]
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(capacity)
        for requestID in order[head...] { hasher.combine(requestID) }
    }

    static func truncated(_ reason: String) -> String {
        var bytes = Array(reason.utf8)
        guard bytes.count > reasonBytesMax else { return reason }
        bytes.removeSubrange(reasonBytesMax...)
        // Cut back to a character boundary so the stored reason decodes the same everywhere.
        while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
        if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    static func integer(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
