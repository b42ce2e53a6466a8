import ChangeFeed
import Consensus
import Foundation
import IdentityModel
import LogStore
import Projections
@testable import Server
import SPIFFE
import Testing

/// The server's real applier under the real driver: events land in the projection tables with
/// the applied index, readers and the change feed see them only once durable, and the history
/// tools replay the log into exactly the stored tables.
@Suite("Projection applier", .serialized)
struct ProjectionApplierTests {
    static func entryEvent(_ number: Int) throws -> EventEnvelope {
        let entry = RegistrationEntry(
            id: try RegistrationEntryID("entry-\(number)"),
            spiffeID: try SPIFFEID(parsing: "spiffe://example.org/workload/\(number)"),
            parentID: try SPIFFEID(parsing: "spiffe://example.org/spire/agent/join_token/t"),
            selectors: [try Selector(type: "unix", value: "uid:\(number)")],
            createdAt: Timestamp(secondsSinceEpoch: 1_800_000_000 + Int64(number)))
        return EventEnvelope(
            issuedAt: Timestamp(secondsSinceEpoch: 1_800_000_000 + Int64(number)), actor: .localAdmin(uid: 0),
            requestID: try RequestID(bytes: (0..<16).map { UInt8(truncatingIfNeeded: number >> ($0 % 4 * 8)) ^ UInt8($0) }),
            event: .registrationEntryCreated(RegistrationEntryCreated(entry: entry)))
    }

    struct Harness: Sendable {
        let driver: LogDriver<ProjectionApplier>
        let view: IdentityStateView
        let feed: ChangeFeed
    }

    /// Opens the store, loads the applier from its tables and runs a driver for `body`.
    static func withServer<T: Sendable>(
        directory: String, _ body: @Sendable (Harness) async throws -> T
    ) async throws -> T {
        let store = try LogStore(directory: directory)
        let state = try ProjectionApplier.load(from: store)
        let view = IdentityStateView()
        let feed = ChangeFeed(startingAfter: state.appliedIndex)
        let driver = try LogDriver(
            store: store, applier: ProjectionApplier(state: state, view: view, feed: feed),
            settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
        let result = try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await driver.run(); return nil }
            while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(5)) }
            let value = try await body(Harness(driver: driver, view: view, feed: feed))
            group.cancelAll()
            return value
        }
        try store.close()
        return result
    }

    static func temporaryDirectory(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID())").path
    }

    @Test("applied events are in the tables; a reopened store loads the same state; verify passes")
    func tablesSurviveRestart() async throws {
        let directory = Self.temporaryDirectory("applier")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let before = try await Self.withServer(directory: directory) { harness in
            for number in 0..<40 {
                let applied = try await harness.driver.propose(try EventCodec.encode(try Self.entryEvent(number)))
                #expect(applied.outcome.changes.count == 1)
                // Acknowledged means visible to readers.
                #expect(harness.view.state.entries[try RegistrationEntryID("entry-\(number)")] != nil)
            }
            // A duplicate is rejected by the projector, and still takes an index.
            let duplicate = try await harness.driver.propose(try EventCodec.encode(try Self.entryEvent(3)))
            #expect(duplicate.outcome.changes.isEmpty)
            return harness.view.state
        }
        #expect(before.entries.count == 40)
        let store = try LogStore(directory: directory, options: .readOnly)
        defer { try? store.close() }
        #expect(try ProjectionApplier.load(from: store) == before)
        #expect(try LogHistory.verify(store) == [])
        let replayed = try LogReplay.replay(store, to: .end)
        #expect(replayed.state == before)
        #expect(replayed.appliedEvents == 40 && replayed.rejectedEvents == 1)
        // Replaying to an earlier index or time gives the state as it was then.
        let early = try LogReplay.replay(store, to: .index(replayed.throughIndex - 31))
        #expect(early.state.entries.count == 10)
        let byTime = try LogReplay.replay(store, to: .time(Timestamp(secondsSinceEpoch: 1_800_000_004)))
        #expect(byTime.state.entries.count == 5)
    }

    @Test("the change feed gets each applied change once, in log order")
    func feedFollowsTheLog() async throws {
        let directory = Self.temporaryDirectory("feed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let revisions = try await Self.withServer(directory: directory) { harness in
            let subscription = harness.feed.subscribe(from: harness.feed.latestRevision)
            var indexes: [UInt64] = []
            for number in 0..<10 {
                indexes.append(try await harness.driver.propose(try EventCodec.encode(try Self.entryEvent(number))).index)
            }
            var seen: [UInt64] = []
            for await event in subscription {
                guard case .changes(let revision, let changes) = event else { Issue.record("unexpected \(event)"); break }
                #expect(changes.count == 1)
                seen.append(revision.rawValue)
                if seen.count == 10 { break }
            }
            return (indexes, seen)
        }
        #expect(revisions.0 == revisions.1)
    }

    @Test("a committed entry that does not decode stops the driver and names its index")
    func undecodableEntryStops() async throws {
        let directory = Self.temporaryDirectory("undecodable")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try LogStore(directory: directory)
        defer { try? store.close() }
        let driver = try LogDriver(
            store: store, applier: ProjectionApplier(state: IdentityState(), view: IdentityStateView()),
            settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let error = await #expect(throws: ProjectionApplier.UndecodableEntry.self) { try await driver.run() }
                #expect(error?.index == 2)
            }
            group.addTask {
                while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(5)) }
                await #expect(throws: LogDriver<ProjectionApplier>.ProposalError.stopped) {
                    try await driver.propose([0xff, 0x01, 0x02])
                }
            }
        }
    }

    @Test("snapshot bytes restore the same state; a damaged snapshot is refused")
    func snapshotRoundTrip() async throws {
        var state = IdentityState()
        for number in 0..<5 {
            _ = Projector.apply(try Self.entryEvent(number), at: LogIndex(UInt64(number + 1)), to: &state)
        }
        let bytes = state.snapshotBytes()
        #expect(try IdentityState.restore(snapshotBytes: bytes) == state)
        #expect(throws: ProjectionTableError.self) { try IdentityState.restore(snapshotBytes: Array(bytes.dropLast())) }
        var lying = bytes
        lying[8] = 0xff  // the row count's high byte: far more rows than the bytes hold
        #expect(throws: ProjectionTableError.self) { try IdentityState.restore(snapshotBytes: lying) }
        var applier = ProjectionApplier(state: IdentityState(), view: IdentityStateView())
        let writes = try applier.restore(from: bytes, at: 9)
        #expect(applier.state == state)
        // Every projection table, and the request table beside them (`RecentRequests`).
        #expect(writes.filter { if case .clear = $0 { true } else { false } }.count == ProjectionTable.allCases.count + 1)
    }

    @Test("a stored row that differs from a replay is named by table and key")
    func tableDifferenceIsNamed() async throws {
        let directory = Self.temporaryDirectory("difference")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try await Self.withServer(directory: directory) { harness in
            for number in 0..<3 { _ = try await harness.driver.propose(try EventCodec.encode(try Self.entryEvent(number))) }
        }
        let store = try LogStore(directory: directory)
        defer { try? store.close() }
        // A well-formed, checksummed row that no event wrote: only the replay can tell.
        try store.commit(WriteBatch(projectionWrites: [.delete(table: ProjectionTable.entries.rawValue, key: Array("entry-1".utf8))]))
        let problems = try LogHistory.verify(store)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("table identity.entries: row \"entry-1\" is missing") == true, "\(problems)")
    }

    @Test("a byte flipped in a log record or a projection value is reported by log verify with its index or table")
    func flippedBytesAreReported() async throws {
        let server = try CrashRecoveryTests.executable("lineage-server")
        let directory = Self.temporaryDirectory("flip")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: DataDirectory.logStore(directory), withIntermediateDirectories: true)
        _ = try await Self.withServer(directory: DataDirectory.logStore(directory)) { harness in
            for number in 0..<5 { _ = try await harness.driver.propose(try EventCodec.encode(try Self.entryEvent(number))) }
        }
        // The SPIFFE ID is inside a log record and an entries table row — and, LMDB being
        // copy-on-write, in free pages holding older copies that no read reaches. Flip each
        // occurrence in turn: the live ones must be reported, none may crash the verifier.
        let dataFile = DataDirectory.logStore(directory) + "/data.mdb"
        // The seal written at a clean close would catch any flip at open, before the records are
        // read; without it (as after a crash), each record's own checksum must catch it.
        let seal = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dataFile + ".seal")))
        try FileManager.default.removeItem(atPath: dataFile + ".seal")
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dataFile)))
        let needle = Array("spiffe://example.org/workload/2".utf8)
        let offsets = (0...(original.count - needle.count)).filter { original[$0..<$0 + needle.count].elementsEqual(needle) }
        #expect(offsets.count >= 2)
        var reports: [String] = []
        for offset in offsets {
            var damaged = original
            damaged[offset + needle.count - 1] ^= 0x01
            try Data(damaged).write(to: URL(fileURLWithPath: dataFile))
            let (status, output) = try await Self.run(server, ["log", "verify", "-dataDir", directory])
            #expect(status == 0 || status == 1, "log verify must report, not crash: \(output)")
            if status != 0 { reports.append(output) }
        }
        try Data(original).write(to: URL(fileURLWithPath: dataFile))
        try Data(seal).write(to: URL(fileURLWithPath: dataFile + ".seal"))
        #expect(try await Self.run(server, ["log", "verify", "-dataDir", directory]).status == 0)
        #expect(reports.contains { $0.contains("log[") }, "\(reports)")
        #expect(reports.contains { $0.contains("identity.entries") }, "\(reports)")
    }

    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await ServerProcess.run(executable, arguments)
        return (result.status, result.stdout + result.stderr)
    }

}
