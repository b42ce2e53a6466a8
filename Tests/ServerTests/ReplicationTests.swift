import ChangeFeed
import Consensus
import Crypto
import Foundation
import GRPCCore
import IdentityModel
import LogStore
import Projections
@testable import Server
import SPIFFE
import Testing
import Wire

/// The pieces of replication that need no second process: the receiving end of a streamed
/// snapshot (whole, short, long, corrupt, malformed streams), and exactly-once apply of a
/// request appended twice (`RecentRequests` in `ProjectionApplier`, in snapshots, in replay).
@Suite("Replication")
struct ReplicationTests {
    // MARK: - Snapshot streams

    static let leaderID: NodeID = 2
    static let selfID: NodeID = 1

    static func header(index: Consensus.LogIndex = 40, from: NodeID = leaderID, to: NodeID = selfID) -> Message {
        Message(kind: .snapshot, from: from, to: to, term: 3, snapshot: Snapshot(
            metadata: SnapshotMetadata(index: index, term: 3, configuration: ConfigurationState(voters: [1, 2, 3])),
            data: []))
    }

    /// The chunks a leader sends for `data` (as `PeerLink` cuts them), first one with the header.
    static func chunks(for data: [UInt8], header: Message = header(), chunkBytes: Int = Server.Limits.snapshotChunkBytesMax,
                       announcedBytes: Int? = nil, digest: [UInt8]? = nil) -> [Lineage_Api_V1_SnapshotChunk] {
        var first = Lineage_Api_V1_SnapshotChunk()
        first.header = Data(header.encoded())
        first.totalBytes = UInt64(announcedBytes ?? data.count)
        first.sha256 = Data(digest ?? Array(SHA256.hash(data: data)))
        var chunks = [first]
        var offset = 0
        while offset < data.count {
            var chunk = Lineage_Api_V1_SnapshotChunk()
            chunk.data = Data(data[offset..<min(offset + chunkBytes, data.count)])
            chunks.append(chunk)
            offset += chunkBytes
        }
        return chunks
    }

    static func receive(_ chunks: [Lineage_Api_V1_SnapshotChunk], into directory: String, failAfter: Int? = nil) async throws -> Message {
        let stream = AsyncThrowingStream<Lineage_Api_V1_SnapshotChunk, any Error> { continuation in
            for (position, chunk) in chunks.enumerated() {
                if position == failAfter {
                    continuation.finish(throwing: CancellationError())
                    return
                }
                continuation.yield(chunk)
            }
            continuation.finish()
        }
        return try await SnapshotReceiver(dataDir: directory).receive(stream, selfID: selfID) { _ in leaderID }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    @Test("a snapshot streamed in 1 MiB chunks arrives whole, checked, and leaves no temporary file")
    func wholeStream() async throws {
        let directory = ProjectionApplierTests.temporaryDirectory("snapshot-receive")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = Self.randomBytes(3 * Server.Limits.snapshotChunkBytesMax + 12_345)
        let message = try await Self.receive(Self.chunks(for: data), into: directory)
        #expect(message.kind == .snapshot && message.from == Self.leaderID && message.to == Self.selfID && message.term == 3)
        #expect(message.snapshot?.metadata.index == 40)
        #expect(message.snapshot?.data == data)
        #expect(!FileManager.default.fileExists(atPath: directory + "/snapshot-incoming.tmp"))
    }

    @Test("broken, short, long, corrupt and malformed streams are refused and leave no file")
    func brokenStreams() async throws {
        let directory = ProjectionApplierTests.temporaryDirectory("snapshot-refuse")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = Self.randomBytes(2 * Server.Limits.snapshotChunkBytesMax + 7)
        let good = Self.chunks(for: data)
        var secondHeader = good
        secondHeader[2].header = good[0].header

        let cases: [(String, [Lineage_Api_V1_SnapshotChunk], Int?, String)] = [
            ("short", Array(good.dropLast()), nil, "ended after"),
            ("long", Self.chunks(for: data, announcedBytes: data.count - 1), nil, "more than the announced"),
            ("corrupt", Self.chunks(for: data, digest: Array(repeating: 7, count: 32)), nil, "SHA-256 does not match"),
            ("oversized chunk", Self.chunks(for: data, chunkBytes: Server.Limits.snapshotChunkBytesMax + 1), nil, "exceeds"),
            ("second header", secondHeader, nil, "only the first snapshot chunk"),
            ("too large", Self.chunks(for: [], announcedBytes: Server.Limits.snapshotBytesMax + 1), nil, "exceeds the limit"),
            ("wrong receiver", Self.chunks(for: data, header: Self.header(to: 3)), nil, "at node 1"),
            ("not from its sender", Self.chunks(for: data, header: Self.header(from: 3)), nil, "arrived from node 2"),
            ("empty snapshot", Self.chunks(for: data, header: Self.header(index: 0)), nil, "not a snapshot message"),
        ]
        for (name, chunks, failAfter, reason) in cases {
            do {
                _ = try await Self.receive(chunks, into: directory, failAfter: failAfter)
                Issue.record("the \(name) stream was accepted")
            } catch let refused as SnapshotReceiver.Refused {
                #expect(refused.description.contains(reason), "\(name): \(refused)")
            }
            #expect(!FileManager.default.fileExists(atPath: directory + "/snapshot-incoming.tmp"), "\(name)")
        }
        // A stream that breaks (the connection drops) throws the transport's error, no message.
        await #expect(throws: CancellationError.self) {
            _ = try await Self.receive(good, into: directory, failAfter: 2)
        }
        #expect(!FileManager.default.fileExists(atPath: directory + "/snapshot-incoming.tmp"))
        // And the next whole stream is taken.
        #expect(try await Self.receive(good, into: directory).snapshot?.data == data)
    }

    // MARK: - Exactly-once apply

    static func applier() -> ProjectionApplier {
        ProjectionApplier(state: IdentityState(), view: IdentityStateView())
    }

    @Test("a request appended twice applies once; both copies answer with the first copy's outcome")
    func secondCopySkipped() throws {
        var applier = Self.applier()
        let create = try EventCodec.encode(try ProjectionApplierTests.entryEvent(1))
        let first = Consensus.RequestID(client: 9, sequence: 1)
        let applied = try applier.apply(create, requestID: first, at: 1)
        #expect(applied.outcome.isApplied && applied.outcome.changes.count == 1)
        let stateAfterFirst = applier.state

        // The same request again (a second leader appended it): nothing changes but the index.
        let again = try applier.apply(create, requestID: first, at: 2)
        #expect(again.outcome == .applied([]))
        #expect(applier.state.entries == stateAfterFirst.entries)
        #expect(applier.state.appliedIndex == LogIndex(2))
        // Only the meta rows (applied index) are written; the request table keeps the first copy.
        #expect(!again.writes.isEmpty && again.writes.allSatisfy { $0.table == ProjectionTable.meta.rawValue })
        #expect(applier.recordedOutcome(of: first)?.index == 1)

        // A different request with the same event is a new request: the projector rejects it.
        let other = Consensus.RequestID(client: 9, sequence: 2)
        let rejected = try applier.apply(create, requestID: other, at: 3)
        guard case .rejected(let rejection) = rejected.outcome else { Issue.record("not rejected"); return }
        // Its second copy answers with the same refusal: same API category, same words.
        let repeated = try applier.apply(create, requestID: other, at: 4)
        guard case .rejected(let repeatedRejection) = repeated.outcome else { Issue.record("not rejected"); return }
        #expect(repeatedRejection == .repeatedRequest(firstIndex: LogIndex(3), category: rejection.category, reason: "\(rejection)"))
        #expect(repeatedRejection.category == .alreadyExists)
        #expect("\(repeatedRejection)" == "\(rejection)")
        #expect(APIError.from(repeatedRejection).code == APIError.from(rejection).code)
        #expect(applier.recordedOutcome(of: Consensus.RequestID(client: 9, sequence: 3)) == nil)
    }

    @Test("the request table travels in snapshots and tables, and restores the same skips")
    func requestTableInSnapshots() throws {
        var applier = Self.applier()
        for number in 1...5 {
            _ = try applier.apply(try EventCodec.encode(try ProjectionApplierTests.entryEvent(number)),
                                  requestID: Consensus.RequestID(client: 4, sequence: UInt64(number)), at: UInt64(number))
        }
        let snapshot = applier.snapshotData()
        var restored = Self.applier()
        let writes = try restored.restore(from: snapshot, at: 5)
        #expect(restored.state == applier.state)
        #expect(restored.requests == applier.requests)
        #expect(writes.contains(.clear(table: RecentRequests.table)))
        #expect(writes.filter { $0.table == RecentRequests.table }.count == 6)
        // The restored applier skips a copy of a request the snapshot covers.
        let copy = try restored.apply(try EventCodec.encode(try ProjectionApplierTests.entryEvent(2)),
                                      requestID: Consensus.RequestID(client: 4, sequence: 2), at: 6)
        #expect(copy.outcome == .applied([]))
        // A snapshot from before the table existed (the projections alone) still restores.
        var legacy = Self.applier()
        _ = try legacy.restore(from: applier.state.snapshotBytes(), at: 5)
        #expect(legacy.state == applier.state && legacy.requests.count == 0)
        // Rows read back (any order) rebuild the same table.
        let rows = applier.requests.rows.reversed().map { (key: $0.key, value: $0.value) }
        #expect(try RecentRequests(rows: Array(rows)) == applier.requests)
        // A truncated table is refused by name, not guessed at.
        var truncated = snapshot
        truncated.removeSubrange(12..<20)
        #expect(throws: (any Error).self) { _ = try ProjectionApplier.decodeSnapshot(truncated) }
    }

    @Test("the table is bounded: the oldest request is evicted, and every replica evicts the same")
    func boundedTable() throws {
        var table = RecentRequests(capacity: 3)
        var deletions: [[UInt8]] = []
        for sequence in 1...5 {
            let writes = table.insert(Consensus.RequestID(client: 1, sequence: UInt64(sequence)), at: UInt64(sequence * 10), outcome: .applied([]))
            for case .delete(_, let key) in writes { deletions.append(key) }
        }
        #expect(table.count == 3)
        #expect(table.record(of: Consensus.RequestID(client: 1, sequence: 2)) == nil)
        #expect(table.record(of: Consensus.RequestID(client: 1, sequence: 3))?.index == 30)
        #expect(deletions == [RecentRequests.key(Consensus.RequestID(client: 1, sequence: 1)), RecentRequests.key(Consensus.RequestID(client: 1, sequence: 2))])
        #expect(try RecentRequests(decoding: table.encoded()[...], capacity: 3) == table)
        #expect(throws: RecentRequests.Malformed.self) { _ = try RecentRequests(decoding: table.encoded()[...], capacity: 2) }
    }

    @Test("the driver answers a repeated proposal with the first outcome, and a replay skips it too")
    func driverAndReplaySkip() async throws {
        let directory = ProjectionApplierTests.temporaryDirectory("dedup-driver")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let requestID = Consensus.RequestID(client: 77, sequence: 1)
        let create = try EventCodec.encode(try ProjectionApplierTests.entryEvent(5))
        try await ProjectionApplierTests.withServer(directory: directory) { harness in
            let first = try await harness.driver.propose(create, requestID: requestID)
            #expect(first.outcome.changes.count == 1)
            // Proposed again after it committed (as a second leader would): appended, skipped.
            let second = try await harness.driver.propose(create, requestID: requestID)
            #expect(second.index > first.index)
            #expect(second.outcome == .applied([]))
            #expect(harness.view.state.entries.count == 1)
        }
        let store = try LogStore(directory: directory, options: .readOnly)
        defer { try? store.close() }
        let replayed = try LogReplay.replay(store, to: .end)
        #expect(replayed.skippedRepeats == 1 && replayed.appliedEvents == 1 && replayed.rejectedEvents == 0)
        #expect(try LogReplay.compareStoredProjections(in: store) == nil)
        // The table is stored beside the projections and loads back.
        #expect(try ProjectionApplier.loadRequests(from: store).record(of: requestID) != nil)
    }
}
