import Consensus
import Foundation
import LogStore
@testable import Server
import Synchronization
import Testing

/// A deterministic applier for driver tests: counts commands and stores each payload under its
/// index, so a test can see exactly what was applied and that nothing was applied twice.
struct RecordingApplier: LogApplier {
    var appliedCount: UInt64 = 0

    mutating func apply(_ data: [UInt8], requestID: RequestID, at index: Consensus.LogIndex) -> (outcome: UInt64, writes: [ProjectionWrite]) {
        appliedCount += 1
        let key = (0..<8).map { UInt8(truncatingIfNeeded: index >> (56 - 8 * $0)) }
        return (appliedCount, [.put(table: "applied", key: key, value: data)])
    }

    func snapshotData() -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: appliedCount >> (56 - 8 * $0)) } }

    mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite] {
        appliedCount = data.reduce(0) { $0 << 8 | UInt64($1) }
        return [.clear(table: "applied")]
    }
}

@Suite("Log driver over LMDB", .serialized)
struct LogDriverTests {
    static func settings() -> LogDriver<RecordingApplier>.Settings {
        LogDriver<RecordingApplier>.Settings(raft: RaftConfiguration(id: 1), bootstrapVoters: [1])
    }

    static func withDriver<T: Sendable>(
        directory: String, applier: RecordingApplier = RecordingApplier(), settings: LogDriver<RecordingApplier>.Settings = settings(),
        _ body: @Sendable (LogDriver<RecordingApplier>) async throws -> T
    ) async throws -> T {
        let store = try LogStore(directory: directory)
        let driver = try LogDriver(store: store, applier: applier, settings: settings)
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await driver.run(); return nil }
            while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(5)) }
            let value = try await body(driver)
            group.cancelAll()
            return value
        }
        try store.close()
        return result
    }

    @Test("concurrent proposals are all acknowledged, durably, at distinct indexes")
    func concurrentProposals() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driver-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let indexes = try await Self.withDriver(directory: directory) { driver in
            try await withThrowingTaskGroup(of: Consensus.LogIndex.self) { group in
                for value in 0..<200 {
                    group.addTask { try await driver.propose(Array("event-\(value)".utf8)).index }
                }
                return try await group.reduce(into: [Consensus.LogIndex]()) { $0.append($1) }
            }
        }
        #expect(Set(indexes).count == 200)
        let store = try LogStore(directory: directory, options: .readOnly)
        defer { try? store.close() }
        #expect(try store.appliedIndex() >= indexes.max()!)
        var stored = 0
        try store.forEach(in: "applied") { _, _ in stored += 1; return true }
        #expect(stored == 200)
        #expect(try store.verify().isClean)
    }

    @Test("a restarted driver neither loses nor re-applies anything")
    func restart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driver-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await Self.withDriver(directory: directory) { driver in
            var last: Consensus.LogIndex = 0
            for value in 0..<20 { last = try await driver.propose([UInt8(value)]).index }
            return last
        }
        let count = try LogStore(directory: directory, options: .readOnly).withClose { store in
            var count: UInt64 = 0
            try store.forEach(in: "applied") { _, _ in count += 1; return true }
            return count
        }
        let second = try await Self.withDriver(directory: directory, applier: RecordingApplier(appliedCount: count)) { driver in
            try await driver.propose([99])
        }
        #expect(second.index > first)
        #expect(second.outcome == 21, "the applier saw each command exactly once across the restart")
    }

    @Test("applies answered before they are stored reach the store within a tick")
    func appliesReachTheStoreWithinATick() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driver-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.withDriver(directory: directory) { driver in
            let applied = try await driver.propose(Array("one".utf8))
            // Read beside the writer (test only: one process, no other user of the directory).
            let deadline = ContinuousClock.now + .seconds(5)
            var stored: UInt64 = 0
            while ContinuousClock.now < deadline {
                stored = try LogStore(directory: directory, options: .readOnly).withClose { try $0.appliedIndex() }
                if stored >= applied.index { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(stored >= applied.index, "the tick writes what was applied in memory")
        }
    }
}

@Suite("Log driver storage failures")
struct LogDriverFailureTests {
    @Test("a full LMDB map stops the driver with a clear error; no proposal hangs or is acknowledged")
    func mapFull() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("driver-full-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var options = LogStore.Options()
        options.mapSizeBytes = 1 << 20
        let store = try LogStore(directory: directory, options: options)
        let driver = try LogDriver(store: store, applier: RecordingApplier(), settings: LogDriverTests.settings())
        let runner = Task { try await driver.run() }
        while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(5)) }
        let payload = [UInt8](repeating: 7, count: 256 * 1024)
        var acknowledged = 0
        var failures = 0
        for _ in 0..<64 {
            do {
                _ = try await driver.propose(payload)
                acknowledged += 1
            } catch {
                failures += 1
                break
            }
        }
        #expect(failures == 1, "the map must fill up within 64 × 256 KiB")
        await #expect(throws: LogStoreError.self) { try await runner.value }
        await #expect(throws: LogDriver<RecordingApplier>.ProposalError.stopped) { try await driver.propose([1]) }
        try store.close()
        let reopened = try LogStore(directory: directory, options: .readOnly)
        defer { try? reopened.close() }
        #expect(try reopened.appliedIndex() >= UInt64(acknowledged), "everything acknowledged is stored")
        #expect(try reopened.verify().isClean)
    }
}

/// Two drivers wired to each other in one process: what each one's store held when it sent.
@Suite("Log driver pair: messages against writes", .serialized)
struct LogDriverPairTests {
    /// A store read from its driver's `send`, which runs on the driver's own thread between
    /// its writes: the one thread that uses the store while the driver runs.
    struct DriverOwnedStore: @unchecked Sendable {
        let store: LogStore
    }

    /// What a member's send saw of its own store for each message it sent.
    final class SentLog: Sendable {
        struct Sent: Sendable {
            var kind: MessageKind
            /// Whether the sender's store held the index the message names when it left.
            var durable: Bool
        }

        private let sent = Mutex<[Sent]>([])
        private let drivers = Mutex<[NodeID: LogDriver<RecordingApplier>]>([:])

        func attach(_ driver: LogDriver<RecordingApplier>, as id: NodeID) { drivers.withLock { $0[id] = driver } }

        /// Records, for appends carrying entries and for accepted append acknowledgements, whether
        /// the sender's store held the index they name; then delivers.
        func send(_ messages: [Message], from store: LogStore) {
            for message in messages {
                let index: Consensus.LogIndex? = switch message.kind {
                case .append: message.entries.last?.index
                case .appendResponse where !message.reject: message.index
                default: nil
                }
                if let index {
                    let stored = (try? store.lastIndex).map { $0 >= index } ?? false
                    sent.withLock { $0.append(Sent(kind: message.kind, durable: stored)) }
                }
                drivers.withLock { $0[message.to] }?.receive(message)
            }
        }

        var all: [Sent] { sent.withLock { $0 } }
    }

    @Test("a leader sends its appends before its own write; a follower acknowledges only what it stored")
    func leaderSendsBeforeWriting() async throws {
        let root = ProjectionApplierTests.temporaryDirectory("driver-pair")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let log = SentLog()
        var drivers: [LogDriver<RecordingApplier>] = []
        var stores: [LogStore] = []
        for id: NodeID in [1, 2] {
            let store = try LogStore(directory: root + "/\(id)")
            var settings = LogDriver<RecordingApplier>.Settings(raft: RaftConfiguration(id: id), bootstrapVoters: [1, 2])
            settings.tickInterval = .milliseconds(5)
            let owned = DriverOwnedStore(store: store)
            let driver = try LogDriver(store: store, applier: RecordingApplier(), settings: settings, send: { log.send($0, from: owned.store) })
            log.attach(driver, as: id)
            drivers.append(driver)
            stores.append(store)
        }
        let indexes = try await withThrowingTaskGroup(of: Void.self) { group in
            for driver in drivers { group.addTask { try await driver.run() } }
            var leader: LogDriver<RecordingApplier>?
            while leader == nil {
                leader = drivers.first { $0.currentStatus.role == .leader }
                try await Task.sleep(for: .milliseconds(5))
            }
            var indexes: [Consensus.LogIndex] = []
            for value in 0..<20 { indexes.append(try await leader!.propose(Array("event-\(value)".utf8)).index) }
            group.cancelAll()
            return indexes
        }
        let sent = log.all
        #expect(sent.contains { $0.kind == .append && !$0.durable }, "no append left the leader before its own write")
        let acknowledgements = sent.filter { $0.kind == .appendResponse }
        #expect(!acknowledgements.isEmpty)
        #expect(acknowledgements.allSatisfy { $0.durable }, "a follower acknowledged an entry it had not stored")
        for store in stores {
            #expect(try store.lastIndex >= indexes.max()!)
            try store.close()
        }
    }
}

extension LogStore {
    func withClose<T>(_ body: (LogStore) throws -> T) throws -> T {
        defer { try? close() }
        return try body(self)
    }
}
