import Consensus
import Crypto
import Foundation
import GRPCCore
import Server
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Replication beyond the log's tail, with three real `lineage-server` processes: a member that
/// missed more than a snapshot interval catches up from a snapshot streamed in chunks (larger
/// than one Step batch), a broken stream changes nothing, and reads on a member are current
/// (ReadIndex) or refused when no leader can vouch for them.
@Suite("Cluster replication", .serialized)
struct ClusterReplicationTests {
    /// The three members of `ClusterTests`, snapshotting every `interval` applied entries.
    static func startCluster(_ upstream: UpstreamAuthorityTests.UpstreamFiles, interval: Int) async throws -> [ServerProcess] {
        try await ClusterTests.startCluster(upstream, settings: "snapshot_interval_entries = \(interval)")
    }

    /// A `-data` file of `count` entries, each with 60 selectors of ~1,000 bytes (~64 KiB an
    /// entry), all under the parent `parent(batch)` (so one batch can be listed within gRPC's
    /// 4 MiB response limit).
    static func bigEntries(batch: Int, count: Int, in directory: String) throws -> String {
        let filler = String(repeating: "x", count: 980)
        let entries = (0..<count).map { number in
            let selectors = (0..<60).map { "{\"type\": \"unix\", \"value\": \"uid:\(batch)-\(number)-\($0)-\(filler)\"}" }
            return """
                {"spiffe_id": "spiffe://example.org/big/\(batch)/\(number)", "parent_id": "\(parent(batch))",
                 "selectors": [\(selectors.joined(separator: ", "))]}
                """
        }
        let path = directory + "/entries-\(batch).json"
        try "{\"entries\": [\(entries.joined(separator: ",\n"))]}".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func parent(_ batch: Int) -> String { "spiffe://example.org/agent/\(batch)" }

    static let batches = 10

    /// `entry show -output json` of one batch (nil: every entry; only while they are small).
    static func entriesJSON(_ server: ServerProcess, batch: Int? = nil) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await server.cli(["entry", "show", "-output", "json", "-socketPath", server.socketPath]
                             + (batch.map { ["-parentID", parent($0)] } ?? []))
    }

    @Test("a member behind a compacted log catches up from a streamed snapshot over 3 MiB; its reads are current")
    func snapshotCatchUp() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let servers = try await Self.startCluster(upstream, interval: 20)
        let leader = try await ClusterTests.waitForLeader(among: servers, within: .seconds(10))
        let lagging = servers.first { $0 !== leader }!
        let laggingIndex = servers.firstIndex { $0 === lagging }!
        let leaderIndex = servers.firstIndex { $0 === leader }!

        // A broken stream first: announced bytes that never come, from a real member's name
        // with the server SVID. Refused; the member keeps serving what it had.
        let before = try await Self.entriesJSON(lagging)
        #expect(before.status == 0, "\(before.stderr)")
        let membership = try ClusterMembership(
            nodeName: ClusterTests.names[laggingIndex],
            peers: servers.indices.filter { $0 != laggingIndex }.map { (ClusterTests.names[$0], "127.0.0.1:\(servers[$0].port)") })
        let senderID = membership.member(named: ClusterTests.names[leaderIndex])!.id
        var first = Lineage_Api_V1_SnapshotChunk()
        first.sender.nodeName = ClusterTests.names[leaderIndex]
        first.sender.membershipFingerprint = Data(membership.fingerprint)
        first.header = Data(Message(kind: .snapshot, from: senderID, to: membership.selfID, term: 1, snapshot: Snapshot(
            metadata: SnapshotMetadata(index: 1_000, term: 1, configuration: ConfigurationState(voters: [1, 2, 3])),
            data: [])).encoded())
        let data = [UInt8](repeating: 0, count: 2_000_000)
        first.totalBytes = UInt64(data.count)
        first.sha256 = Data(SHA256.hash(data: data))
        var part = Lineage_Api_V1_SnapshotChunk()
        part.data = Data(data[0..<1_000_000])
        let chunks = [first, part]
        let code = try await ClusterTests.withClusterClient(port: lagging.port, credentials: try ClusterTests.serverSVID(upstream)) { client in
            do {
                _ = try await client.installSnapshot { writer in try await writer.write(contentsOf: chunks) }
                return RPCError.Code?.none
            } catch let error as RPCError {
                return error.code
            }
        }
        #expect(code == .invalidArgument)
        #expect(try await Self.entriesJSON(lagging).stdout == before.stdout, "a broken stream changes nothing")

        // Pause one follower and write ~6.5 MiB of entries: the leader snapshots every 20
        // entries and drops the log before, so the paused member can only catch up from a
        // snapshot — larger than a Step batch (3 MiB), so it must stream.
        lagging.signal(SIGSTOP)
        // Under load (2 shared cores) leadership may move between the two running members, so
        // a listing (a current read) is retried while it is Unavailable.
        var expected: [String] = []
        for batch in 0..<Self.batches {
            let file = try Self.bigEntries(batch: batch, count: 10, in: leader.directory)
            let created = try await leader.cli(["entry", "create", "-data", file, "-socketPath", leader.socketPath])
            #expect(created.status == 0, "\(created.stderr)")
            var listed = ""
            for _ in 0..<10 {
                let shown = try await Self.entriesJSON(leader, batch: batch)
                if shown.status == 0 && shown.stdout.components(separatedBy: "\"path\":\"/big/\(batch)/").count - 1 == 10 {
                    listed = shown.stdout
                    break
                }
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(!listed.isEmpty, "batch \(batch) is not listed whole")
            expected.append(listed)
        }
        lagging.signal(SIGCONT)

        // The first answer the resumed member gives is already current (ReadIndex): it is
        // Unavailable until it has applied through the leader's commit index, never stale —
        // here, it lists the last batch written, which only the snapshot brought.
        let deadline = ContinuousClock.now + .seconds(90)
        var caughtUp = false
        while ContinuousClock.now < deadline {
            let shown = try await Self.entriesJSON(lagging, batch: Self.batches - 1)
            if shown.status == 0 {
                #expect(shown.stdout == expected.last, "the first successful read on the resumed member is current")
                caughtUp = true
                break
            }
            #expect(shown.stderr.contains("Unavailable") || shown.stdout.contains("Unavailable"), "\(shown)")
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(caughtUp, "the paused member did not catch up within 90 s")
        for batch in 0..<Self.batches {
            let shown = try await Self.entriesJSON(lagging, batch: batch)
            #expect(shown.stdout == expected[batch], "batch \(batch) differs on the caught-up member")
        }

        // It caught up through a streamed snapshot larger than a Step batch.
        let log = try String(contentsOfFile: lagging.stderrPath, encoding: .utf8)
        let received = log.split(separator: "\n").filter { $0.contains("Raft snapshot received whole") }
        let sizes = received.compactMap { line -> Int? in
            guard let range = line.range(of: #"bytes=\d+"#, options: .regularExpression) else { return nil }
            return Int(line[range].dropFirst("bytes=".count))
        }
        #expect(sizes.contains { $0 > Server.Limits.stepBatchBytesMax }, "snapshots received: \(received)")
        #expect(log.contains("Raft snapshot stream refused"), "the broken stream was logged")
    }

    @Test("with no leader, a read that must be current is Unavailable instead of stale")
    func noLeaderNoRead() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let servers = try await Self.startCluster(upstream, interval: 1_000)
        let leader = try await ClusterTests.waitForLeader(among: servers, within: .seconds(10))
        let followers = servers.filter { $0 !== leader }
        let created = try await ClusterTests.createEntry(on: followers[0], "spiffe://example.org/r1")
        #expect(created.status == 0, "\(created.stderr)")
        // Read-after-write across members: a write on one follower, read at once on the other.
        let shown = try await followers[1].cli(["entry", "show", "-spiffeID", "spiffe://example.org/r1",
                                                "-socketPath", followers[1].socketPath])
        #expect(shown.stdout.contains("spiffe://example.org/r1"), "\(shown)")

        // Pause the other two: the remaining member has the entry but cannot know it is current.
        leader.signal(SIGSTOP)
        followers[1].signal(SIGSTOP)
        defer {
            leader.signal(SIGCONT)
            followers[1].signal(SIGCONT)
        }
        let started = ContinuousClock.now
        let refused = try await followers[0].cli(["entry", "show", "-socketPath", followers[0].socketPath])
        let waited = ContinuousClock.now - started
        #expect(refused.status != 0)
        #expect((refused.stdout + refused.stderr).contains("Unavailable"), "\(refused)")
        #expect((refused.stdout + refused.stderr).contains("would not be current"), "\(refused)")
        #expect(waited < .seconds(15), "bounded wait: \(waited)")

        // Back together, the same read succeeds.
        leader.signal(SIGCONT)
        followers[1].signal(SIGCONT)
        #expect(try await ClusterTests.shows(followers[0], "spiffe://example.org/r1", within: .seconds(20)))
    }
}
