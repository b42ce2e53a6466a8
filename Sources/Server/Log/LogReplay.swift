import Consensus
import Foundation
import IdentityModel
import LogStore
import Projections

/// Rebuilding the identity projections from the log alone: `lineage-server log replay` and the
/// projection half of `log verify`. Read-only, like everything in `LogHistory`.
public enum LogReplay {
    /// How far to replay.
    public enum Target: Sendable, Hashable {
        /// Through this log index.
        case index(UInt64)
        /// Every event stamped at or before this time (the leader's clock); replay stops at the
        /// first event stamped later.
        case time(Timestamp)
        /// Through the last entry in the log.
        case end
    }

    public struct Result: Sendable {
        public var state: IdentityState
        /// The last log index folded in (a snapshot's index counts).
        public var throughIndex: UInt64
        /// Events applied and events the projector rejected (a rejected event changes nothing).
        public var appliedEvents: Int
        public var rejectedEvents: Int
        /// Second copies of an already applied request, skipped (`RecentRequests`).
        public var skippedRepeats = 0
    }

    /// Folds the log into a fresh state, starting from the store's snapshot when the log before
    /// it was compacted away. Throws `LogHistory.Failure` when the target lies before the history
    /// the store still has, or an entry does not decode.
    public static func replay(_ store: LogStore, to target: Target) throws -> Result {
        var result = Result(state: IdentityState(), throughIndex: 0, appliedEvents: 0, rejectedEvents: 0)
        // The same request table as the live applier, so a second copy of a request is skipped
        // here too and the replay matches the stored projections.
        var requests = RecentRequests()
        let firstIndex = try store.firstIndex
        if firstIndex > 1 {
            guard let (meta, data) = try store.snapshot() else {
                throw LogHistory.Failure(
                    index: firstIndex, description: "the log starts at index \(firstIndex) and no snapshot covers what came before")
            }
            if case .index(let index) = target, index < meta.index {
                throw LogHistory.Failure(
                    index: index, description: "history before index \(meta.index + 1) was compacted into a snapshot; replay can start there")
            }
            do {
                (result.state, requests) = try ProjectionApplier.decodeSnapshot(data)
            } catch {
                throw LogHistory.Failure(index: meta.index, description: "the snapshot at index \(meta.index) does not restore: \(error)")
            }
            result.throughIndex = meta.index
        }
        var to: UInt64?
        if case .index(let index) = target { to = index }
        // Reading and decoding cost about as much as folding, so a second thread decodes the
        // next batches while this one folds.
        let pipeline = RecordPipeline(store: store, from: result.throughIndex + 1, to: to)
        defer { pipeline.finish() }
        folding: while let batch = try pipeline.next() {
            for record in batch {
                if let envelope = record.envelope {
                    if case .time(let time) = target, envelope.issuedAt > time { break folding }
                    if requests.record(of: record.requestID) != nil {
                        Projector.skip(at: LogIndex(record.index), in: &result.state)
                        result.skippedRepeats += 1
                    } else {
                        let outcome = Projector.apply(envelope, at: LogIndex(record.index), to: &result.state)
                        if !record.requestID.isNone { _ = requests.insert(record.requestID, at: record.index, outcome: outcome) }
                        switch outcome {
                        case .applied: result.appliedEvents += 1
                        case .rejected: result.rejectedEvents += 1
                        }
                    }
                }
                result.throughIndex = record.index
            }
        }
        return result
    }

    /// Compares the projection tables stored in `store` with a fresh replay of its log through
    /// the stored applied index. Returns the first difference (table and key) or nil when equal.
    public static func compareStoredProjections(in store: LogStore) throws -> String? {
        let appliedIndex = try store.appliedIndex()
        let replayed = try replay(store, to: .index(appliedIndex))
        guard replayed.throughIndex == appliedIndex else {
            return "the log ends at index \(replayed.throughIndex), before the applied index \(appliedIndex)"
        }
        let stored = try ProjectionApplier.storedTables(in: store)
        var expected: [String: [[UInt8]: [UInt8]]] = [:]
        for row in replayed.state.tableRows() { expected[row.table, default: [:]][row.key] = row.value }
        if stored.isEmpty && replayed.appliedEvents + replayed.rejectedEvents == 0 { return nil }
        for table in ProjectionTable.allCases.map(\.rawValue) {
            let have = stored[table] ?? [:]
            let want = expected[table] ?? [:]
            guard have != want else { continue }
            let keys = Set(have.keys).union(want.keys).sorted { $0.lexicographicallyPrecedes($1) }
            let key = keys.first { have[$0] != want[$0] } ?? []
            let what = have[key] == nil ? "is missing" : want[key] == nil ? "should not exist" : "differs from a replay"
            return "table \(table): row \(keyText(key)) \(what) (replayed through index \(appliedIndex))"
        }
        return nil
    }
}

/// Log records read and decoded on their own thread, handed over in bounded batches.
///
/// The store is used by the producer thread only, from `init` until `finish()` returns; the
/// caller must not touch it in between (hence `@unchecked Sendable`).
final class RecordPipeline: @unchecked Sendable {
    static let batchRecords = 4096
    /// Batches decoded ahead of the folding; bounds memory to depth × batchRecords records.
    static let depth = 4

    private let condition = NSCondition()
    private var ready: [[LogHistory.Record]] = []
    private var producerDone = false
    private var stopRequested = false
    private var failure: (any Error)?

    /// The store crosses to the producer thread; see the type's comment for why that is safe.
    private struct StoreHandle: @unchecked Sendable { let store: LogStore }

    init(store: LogStore, from: UInt64, to: UInt64?) {
        let handle = StoreHandle(store: store)
        let thread = Thread { [self] in
            let store = handle.store
            var batch: [LogHistory.Record] = []
            batch.reserveCapacity(Self.batchRecords)
            do {
                try LogHistory.forEachRecord(in: store, from: from, to: to) { record in
                    batch.append(record)
                    guard batch.count == Self.batchRecords else { return true }
                    defer { batch.removeAll(keepingCapacity: true) }
                    return hand(batch)
                }
                if !batch.isEmpty { _ = hand(batch) }
            } catch {
                condition.withLock { failure = error }
            }
            condition.withLock {
                producerDone = true
                condition.broadcast()
            }
        }
        thread.start()
    }

    /// Waits for room, then queues `batch`; false when the consumer stopped.
    private func hand(_ batch: [LogHistory.Record]) -> Bool {
        condition.withLock {
            while ready.count >= Self.depth && !stopRequested { condition.wait() }
            guard !stopRequested else { return false }
            ready.append(batch)
            condition.broadcast()
            return true
        }
    }

    /// The next batch in log order; nil at the end. Rethrows the producer's failure.
    func next() throws -> [LogHistory.Record]? {
        try condition.withLock {
            while ready.isEmpty && !producerDone { condition.wait() }
            if !ready.isEmpty {
                condition.broadcast()
                return ready.removeFirst()
            }
            if let failure { throw failure }
            return nil
        }
    }

    /// Stops the producer and waits until it no longer uses the store.
    func finish() {
        condition.withLock {
            stopRequested = true
            condition.broadcast()
            while !producerDone { condition.wait() }
        }
    }
}
