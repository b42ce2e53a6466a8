import ChangeFeed
import Consensus
import IdentityModel
import LogStore
import Projections
import Synchronization

/// The server's applier: decodes each committed event and folds it into the identity
/// projections (`Projector`), storing the table writes with the applied index. After every
/// durable batch it publishes the new state to readers and the changes to the change feed —
/// never before, so nothing outside sees a change a crash could take back.
public struct ProjectionApplier: LogApplier {
    public typealias Outcome = ApplyOutcome

    /// Why a committed entry cannot be applied. Every server would meet the same entry, so the
    /// driver stops rather than skip it (an unknown event version needs a newer binary).
    public struct UndecodableEntry: Error, CustomStringConvertible {
        public let index: Consensus.LogIndex
        public let reason: String
        public var description: String { "log index \(index): committed event does not decode: \(reason)" }
    }

    public private(set) var state: IdentityState
    /// Applied request IDs, to skip a second copy of one (replicated like the projections).
    public private(set) var requests: RecentRequests
    private let view: IdentityStateView
    private let feed: ChangeFeed?
    /// This server's own proposals, decoded already (nil: every entry is decoded here).
    private let proposals: DecodedProposals?
    private var unpublished: [(revision: Revision, changes: [Change])] = []

    /// `state` must be what the store's tables hold (`load(from:)`); `view` and `feed` are told
    /// of every change made durable from then on.
    public init(state: IdentityState, requests: RecentRequests = RecentRequests(), view: IdentityStateView, feed: ChangeFeed? = nil) {
        self.init(state: state, requests: requests, view: view, feed: feed, proposals: nil)
    }

    init(state: IdentityState, requests: RecentRequests, view: IdentityStateView, feed: ChangeFeed?, proposals: DecodedProposals?) {
        self.state = state
        self.requests = requests
        self.view = view
        self.feed = feed
        self.proposals = proposals
        view.publish(state)
    }

    public mutating func apply(_ data: [UInt8], requestID: Consensus.RequestID, at index: Consensus.LogIndex) throws -> (outcome: ApplyOutcome, writes: [ProjectionWrite]) {
        if let first = requests.record(of: requestID) {
            // A second copy (two leaders appended the same forwarded write): not applied again;
            // its waiters get the first copy's outcome.
            Projector.skip(at: LogIndex(index), in: &state)
            return (RecentRequests.outcome(first), Projector.tableWrites(for: [], in: state).map(ProjectionWrite.init))
        }
        let envelope: EventEnvelope
        if let decoded = proposals?.take(requestID) {
            envelope = decoded
        } else {
            do {
                envelope = try EventCodec.decode(data)
            } catch {
                throw UndecodableEntry(index: index, reason: "\(error)")
            }
        }
        let outcome = Projector.apply(envelope, at: LogIndex(index), to: &state)
        let changes = outcome.changes
        if !changes.isEmpty { unpublished.append((LogIndex(index), changes)) }
        var writes = Projector.tableWrites(for: changes, in: state).map(ProjectionWrite.init)
        if !requestID.isNone { writes += requests.insert(requestID, at: index, outcome: outcome) }
        return (outcome, writes)
    }

    public func recordedOutcome(of requestID: Consensus.RequestID) -> (index: Consensus.LogIndex, outcome: ApplyOutcome)? {
        requests.record(of: requestID).map { ($0.index, RecentRequests.outcome($0)) }
    }

    public mutating func committed(through index: Consensus.LogIndex) {
        view.publish(state)
        for batch in unpublished { feed?.publish(revision: batch.revision, changes: batch.changes) }
        unpublished.removeAll(keepingCapacity: true)
    }

    /// Snapshot format 2: the byte 2, the request table's length (8 bytes, big-endian), the
    /// request table, then the projections' own snapshot (which begins with its format byte, 1;
    /// a snapshot written before the request table existed is that alone).
    public func snapshotData() -> [UInt8] {
        let table = requests.encoded()
        return [Self.snapshotFormat] + RecentRequests.bigEndian(UInt64(table.count)) + table + state.snapshotBytes()
    }

    static let snapshotFormat: UInt8 = 2

    /// The projections and request table a snapshot holds (either format).
    public static func decodeSnapshot(_ data: [UInt8]) throws -> (state: IdentityState, requests: RecentRequests) {
        guard data.first == snapshotFormat else { return (try IdentityState.restore(snapshotBytes: data), RecentRequests()) }
        guard data.count >= 9 else { throw RecentRequests.Malformed(description: "a snapshot of \(data.count) bytes") }
        let length = RecentRequests.integer(data[1..<9])
        guard length <= UInt64(data.count - 9) else { throw RecentRequests.Malformed(description: "the snapshot's request table is truncated") }
        let end = 9 + Int(length)
        return (try IdentityState.restore(snapshotBytes: Array(data[end...])), try RecentRequests(decoding: data[9..<end]))
    }

    public mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite] {
        (state, requests) = try Self.decodeSnapshot(data)
        unpublished.removeAll()
        view.publish(state)
        // Followers of the feed cannot bridge a snapshot with changes: they start over.
        feed?.reset(at: LogIndex(index))
        return state.fullTableWrites().map(ProjectionWrite.init) + requests.fullTableWrites
    }

    /// The request table the store holds (empty for a new store or one from before the table).
    public static func loadRequests(from store: LogStore) throws -> RecentRequests {
        guard try store.tableNames().contains(RecentRequests.table) else { return RecentRequests() }
        var rows: [(key: [UInt8], value: [UInt8])] = []
        try store.forEach(in: RecentRequests.table) { key, value in
            rows.append((key, value))
            return true
        }
        return try RecentRequests(rows: rows)
    }

    /// The state the store's projection tables hold (empty for a new store). Throws when a table
    /// does not decode or breaks an invariant: such a store must be rebuilt, not served from.
    public static func load(from store: LogStore) throws -> IdentityState {
        let stored = try storedTables(in: store)
        return stored.isEmpty ? IdentityState() : try IdentityState.restore(tables: stored)
    }

    /// Every row of the identity tables that exist, by table name.
    static func storedTables(in store: LogStore) throws -> [String: [[UInt8]: [UInt8]]] {
        var tables: [String: [[UInt8]: [UInt8]]] = [:]
        let present = Set(try store.tableNames())
        for table in ProjectionTable.allCases where present.contains(table.rawValue) {
            var rows: [[UInt8]: [UInt8]] = [:]
            try store.forEach(in: table.rawValue) { key, value in
                rows[key] = value
                return true
            }
            tables[table.rawValue] = rows
        }
        return tables
    }
}

extension ProjectionWrite {
    init(_ write: TableWrite) {
        switch write {
        case .put(let table, let key, let value): self = .put(table: table, key: key, value: value)
        case .delete(let table, let key): self = .delete(table: table, key: key)
        case .clear(let table): self = .clear(table: table)
        }
    }
}

/// The latest durable identity state, for readers outside the driver (API handlers, sync
/// streams). Reading takes a copy-on-write reference, so a reader never blocks the driver for
/// longer than a pointer copy.
public final class IdentityStateView: Sendable {
    private let current = Mutex(IdentityState())

    public init() {}

    public var state: IdentityState { current.withLock { $0 } }

    func publish(_ state: IdentityState) {
        var replaced = state
        current.withLock { swap(&$0, &replaced) }
        // The previous state is released here, outside the lock: freeing the trie nodes only it
        // held takes a while, and readers must not wait for it.
    }
}
