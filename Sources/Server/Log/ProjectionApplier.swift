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
    private let view: IdentityStateView
    private let feed: ChangeFeed?
    private var unpublished: [(revision: Revision, changes: [Change])] = []

    /// `state` must be what the store's tables hold (`load(from:)`); `view` and `feed` are told
    /// of every change made durable from then on.
    public init(state: IdentityState, view: IdentityStateView, feed: ChangeFeed? = nil) {
        self.state = state
        self.view = view
        self.feed = feed
        view.publish(state)
    }

    public mutating func apply(_ data: [UInt8], at index: Consensus.LogIndex) throws -> (outcome: ApplyOutcome, writes: [ProjectionWrite]) {
        let envelope: EventEnvelope
        do {
            envelope = try EventCodec.decode(data)
        } catch {
            throw UndecodableEntry(index: index, reason: "\(error)")
        }
        let outcome = Projector.apply(envelope, at: LogIndex(index), to: &state)
        let changes = outcome.changes
        if !changes.isEmpty { unpublished.append((LogIndex(index), changes)) }
        return (outcome, Projector.tableWrites(for: changes, in: state).map(ProjectionWrite.init))
    }

    public mutating func committed(through index: Consensus.LogIndex) {
        view.publish(state)
        for batch in unpublished { feed?.publish(revision: batch.revision, changes: batch.changes) }
        unpublished.removeAll(keepingCapacity: true)
    }

    public func snapshotData() -> [UInt8] { state.snapshotBytes() }

    public mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite] {
        state = try IdentityState.restore(snapshotBytes: data)
        unpublished.removeAll()
        view.publish(state)
        // Followers of the feed cannot bridge a snapshot with changes: they start over.
        feed?.reset(at: LogIndex(index))
        return state.fullTableWrites().map(ProjectionWrite.init)
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
        current.withLock { $0 = state }
    }
}
