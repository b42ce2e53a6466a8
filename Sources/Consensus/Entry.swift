/// A server's identity inside the cluster protocol. Zero means "nobody" and is never a valid ID.
public typealias NodeID = UInt64

/// A Raft term. Terms only ever grow on a given server.
public typealias Term = UInt64

/// A position in the replicated log. The first real entry has index 1; index 0 is the empty
/// prefix every log shares.
public typealias LogIndex = UInt64

/// The sentinel for "no node", used for an unknown leader or an empty vote.
public let noNode: NodeID = 0

/// What an entry means to the layers above the log.
public enum EntryKind: UInt8, Sendable, Hashable, CaseIterable {
    /// A leader appends one empty entry at the start of its term so that it can commit
    /// entries from earlier terms indirectly (Raft paper, Figure 8) and serve ReadIndex.
    case noop = 0
    /// An application command, carried opaquely in `data`.
    case command = 1
    /// A single-server membership change, encoded as a `ConfigurationChange` in `data`.
    case configurationChange = 2
}

/// Identifies one client request so that a retried request is applied at most once.
///
/// A client numbers its requests 1, 2, 3, … and keeps at most one outstanding; the applier
/// remembers the highest sequence it applied per client (see `ClientSessionTable`).
public struct RequestID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var client: UInt64
    public var sequence: UInt64

    public init(client: UInt64, sequence: UInt64) {
        self.client = client
        self.sequence = sequence
    }

    /// Entries that carry no client request (no-ops, internal entries) use this value.
    public static let none = RequestID(client: 0, sequence: 0)

    public var isNone: Bool { client == 0 }

    public static func < (lhs: RequestID, rhs: RequestID) -> Bool {
        (lhs.client, lhs.sequence) < (rhs.client, rhs.sequence)
    }

    public var description: String { "\(client).\(sequence)" }
}

/// One record of the replicated log.
public struct Entry: Sendable, Hashable {
    public var term: Term
    public var index: LogIndex
    public var kind: EntryKind
    public var requestID: RequestID
    public var data: [UInt8]

    public init(
        term: Term, index: LogIndex, kind: EntryKind = .command,
        requestID: RequestID = .none, data: [UInt8] = []
    ) {
        self.term = term
        self.index = index
        self.kind = kind
        self.requestID = requestID
        self.data = data
    }

    /// The size this entry counts for in byte limits: payload plus a fixed header allowance,
    /// so that a flood of empty entries is still bounded.
    public var sizeBytes: Int { data.count + Limits.entryOverheadBytes }
}

/// Sums `sizeBytes` over a batch of entries.
func totalSizeBytes(_ entries: some Collection<Entry>) -> Int {
    entries.reduce(0) { $0 + $1.sizeBytes }
}

/// Returns the longest prefix of `entries` whose total size stays within `maxBytes`, but always
/// at least one entry, so that one oversized entry can still make progress.
func limitSize(_ entries: [Entry], maxBytes: Int) -> [Entry] {
    guard !entries.isEmpty else { return entries }
    var size = entries[0].sizeBytes
    var count = 1
    while count < entries.count {
        size += entries[count].sizeBytes
        if size > maxBytes { break }
        count += 1
    }
    return Array(entries.prefix(count))
}
