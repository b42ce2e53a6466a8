import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// Dynamic membership with real processes: a fourth server joins a running three-server
/// cluster, receives the log, and votes; members (a follower, then the leader) leave; and the
/// refusals: a joiner without the upstream-signed SVID, a malformed address, an unknown name,
/// a second change while one is pending.
@Suite("Cluster membership changes", .serialized)
struct ClusterMembershipChangeTests {
    /// A server in join mode, with the upstream `upstream` (the cluster's, or a stranger's).
    static func joiner(_ name: String, _ upstream: UpstreamAuthorityTests.UpstreamFiles) throws -> ServerProcess {
        try ServerProcess(
            extraSettings: """
                    cluster {
                        node_name = "\(name)"
                        join = true
                    }
                """,
            extraPlugins: upstream.plugin(cert: upstream.rootCert, key: upstream.rootKey, bundle: nil))
    }

    /// Launches a joiner and waits until its admin socket says it waits to join.
    static func launchWaiting(_ server: ServerProcess) async throws {
        try server.launch()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let status = try await server.cli(["cluster", "status", "-socketPath", server.socketPath])
            if status.status == 0 && status.stdout.contains("is waiting to join") { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "the joiner never waited to join"])
    }

    /// `cluster status -output json` on `server`, decoded.
    static func status(_ server: ServerProcess) async throws -> [String: Any] {
        let result = try await server.cli(["cluster", "status", "-output", "json", "-socketPath", server.socketPath])
        guard result.status == 0, let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "cluster status: \(result)"])
        }
        return object
    }

    static func members(_ status: [String: Any]) -> [[String: Any]] { status["members"] as? [[String: Any]] ?? [] }

    /// Waits until `server`'s status satisfies `condition`.
    static func waitForStatus(
        _ server: ServerProcess, within timeout: Duration = .seconds(10), _ condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: Any] = [:]
        repeat {
            last = try await status(server)
            if condition(last) { return last }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return last
    }

    static func name(of server: ServerProcess, in servers: [ServerProcess]) -> String {
        ClusterTests.names[servers.firstIndex { $0 === server }!]
    }

    @Test("a fourth server joins, gets the whole log and votes; a follower and then the leader leave; writes go on")
    func joinAndLeave() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let servers = try await ClusterTests.startCluster(upstream)
        let leader = try await ClusterTests.waitForLeader(among: servers, within: .seconds(10))
        let followers = servers.filter { $0 !== leader }
        let before = try await ClusterTests.createEntry(on: followers[0], "spiffe://example.org/before")
        #expect(before.status == 0, "\(before.stderr)")

        // s4 joins through a follower (which forwards to the leader).
        let s4 = try Self.joiner("s4", upstream)
        try await Self.launchWaiting(s4)
        let join = try await s4.cli(["cluster", "join", "-address", "127.0.0.1:\(followers[0].port)", "-socketPath", s4.socketPath])
        #expect(join.status == 0, "\(join)")
        #expect(join.stdout.contains("Joined the cluster of [s1, s2, s3] as node 4"), "\(join.stdout)")
        try await s4.waitUntilHealthy()
        let all = servers + [s4]

        // The log before the join reached s4, and a write made on s4 reaches everyone.
        #expect(try await ClusterTests.shows(s4, "spiffe://example.org/before"))
        let after = try await ClusterTests.createEntry(on: s4, "spiffe://example.org/after")
        #expect(after.status == 0, "\(after.stderr)")
        for server in all { #expect(try await ClusterTests.shows(server, "spiffe://example.org/after")) }

        // The leader sees four voters, each with a match index (s4's too).
        let four = try await Self.waitForStatus(leader) { status in
            let members = Self.members(status)
            return members.count == 4 && members.allSatisfy { Int($0["match_index"] as? String ?? "0") ?? 0 > 0 }
        }
        let members = Self.members(four)
        #expect(members.map { $0["name"] as? String } == ["s1", "s2", "s3", "s4"], "\(four)")
        #expect(members.allSatisfy { $0["voter"] as? Bool == true && $0["has_progress"] as? Bool == true }, "\(four)")
        #expect(members.first { $0["name"] as? String == "s4" }?["node_id"] as? String == "4")
        #expect(members.first { $0["name"] as? String == "s4" }?["address"] as? String == "127.0.0.1:\(s4.port)")
        let text = try await leader.cli(["cluster", "status", "-socketPath", leader.socketPath])
        #expect(text.stdout.contains("Found 4 members"), "\(text.stdout)")
        #expect(text.stdout.contains("Role              : leader"), "\(text.stdout)")
        let fromS4 = try await Self.status(s4)
        #expect(fromS4["role"] as? String == "follower")
        #expect(fromS4["cluster_identity"] as? String == four["cluster_identity"] as? String, "one identity for joined and bootstrap members")

        // Restarted, s4 is a member from its recorded membership (no second join) and catches up.
        s4.kill(SIGKILL)
        let whileDown = try await ClusterTests.createEntry(on: leader, "spiffe://example.org/while-s4-down")
        #expect(whileDown.status == 0, "\(whileDown.stderr)")
        try await s4.start()
        #expect(try await ClusterTests.shows(s4, "spiffe://example.org/while-s4-down"))

        // A follower leaves (asked on s4, forwarded to the leader).
        let gone = followers[1]
        let goneName = Self.name(of: gone, in: servers)
        let leave = try await s4.cli(["cluster", "leave", "-name", goneName, "-socketPath", s4.socketPath])
        #expect(leave.status == 0, "\(leave)")
        let three = try await Self.waitForStatus(leader) { Self.members($0).count == 3 }
        #expect(!Self.members(three).contains { $0["name"] as? String == goneName }, "\(three)")

        // The leader leaves itself: it hands over, and the other two (s4 among them) go on.
        let leaderName = Self.name(of: leader, in: servers)
        let leaveLeader = try await leader.cli(["cluster", "leave", "-name", leaderName, "-socketPath", leader.socketPath])
        #expect(leaveLeader.status == 0, "\(leaveLeader)")
        let remaining = [followers[0], s4]
        let newLeader = try await ClusterTests.waitForLeader(among: remaining, within: .seconds(10))
        let last = try await ClusterTests.createEntry(on: remaining.first { $0 !== newLeader }!, "spiffe://example.org/last")
        #expect(last.status == 0, "\(last.stderr)")
        for server in remaining { #expect(try await ClusterTests.shows(server, "spiffe://example.org/last")) }
        let two = try await Self.waitForStatus(newLeader) { Self.members($0).count == 2 }
        #expect(Set(Self.members(two).compactMap { $0["name"] as? String }) == [Self.name(of: followers[0], in: servers), "s4"], "\(two)")

        // Both removed servers say so in their logs.
        for removed in [gone, leader] {
            let deadline = ContinuousClock.now + .seconds(10)
            var log = ""
            repeat {
                log = (try? String(contentsOfFile: removed.stderrPath, encoding: .utf8)) ?? ""
                if log.contains("was removed from the cluster") { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            #expect(log.contains("was removed from the cluster"), "\(removed.port)")
        }
    }

    @Test("refused: a joiner without the upstream-signed SVID, a malformed address, an unknown name, a second pending change")
    func refusals() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        let stranger = try UpstreamAuthorityTests.UpstreamFiles()
        defer {
            try? FileManager.default.removeItem(atPath: upstream.directory)
            try? FileManager.default.removeItem(atPath: stranger.directory)
        }
        let servers = try await ClusterTests.startCluster(upstream)
        let leader = try await ClusterTests.waitForLeader(among: servers, within: .seconds(10))

        // A server whose SVID another upstream signed is not one of this cluster's servers.
        let outsider = try Self.joiner("s4", stranger)
        try await Self.launchWaiting(outsider)
        let malformed = try await outsider.cli(["cluster", "join", "-address", "127.0.0.1", "-socketPath", outsider.socketPath])
        #expect(malformed.status != 0)
        #expect(malformed.stderr.contains("InvalidArgument") && malformed.stderr.contains("malformed -address"), "\(malformed.stderr)")
        let refused = try await outsider.cli(["cluster", "join", "-address", "127.0.0.1:\(leader.port)", "-socketPath", outsider.socketPath])
        #expect(refused.status != 0, "\(refused)")
        // Its chain does not verify against the cluster's bundle: the TLS handshake fails.
        #expect(refused.stderr.contains("Unavailable"), "\(refused.stderr)")
        // Still waiting, still not a member anywhere.
        let waiting = try await outsider.cli(["cluster", "status", "-socketPath", outsider.socketPath])
        #expect(waiting.stdout.contains("is waiting to join"), "\(waiting)")
        #expect(Self.members(try await Self.status(leader)).count == 3)

        // An SVID of this trust domain that is not the server ID (a workload's, minted by the
        // cluster's own CA) passes TLS but is refused by Join before anything is appended.
        let minted = leader.directory + "/workload"
        try FileManager.default.createDirectory(atPath: minted, withIntermediateDirectories: true)
        let mint = try await leader.cli(["x509", "mint", "-spiffeID", "spiffe://example.org/workload", "-write", minted,
                                         "-socketPath", leader.socketPath])
        #expect(mint.status == 0, "\(mint.stderr)")
        let workload = try (String(contentsOfFile: minted + "/svid.pem", encoding: .utf8),
                            String(contentsOfFile: minted + "/key.pem", encoding: .utf8))
        let code = try await Self.withMembersClient(port: leader.port, credentials: workload) { client in
            var request = Lineage_Api_V1_MemberJoinRequest()
            request.nodeName = "s9"
            request.address = "127.0.0.1:9"
            do { _ = try await client.join(request); return RPCError.Code?.none } catch let error as RPCError { return error.code }
        }
        #expect(code == .permissionDenied)
        #expect(Self.members(try await Self.status(leader)).count == 3)

        // An unknown name.
        let unknown = try await leader.cli(["cluster", "leave", "-name", "nobody", "-socketPath", leader.socketPath])
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("NotFound"), "\(unknown.stderr)")

        // A second change while the first cannot commit: stop one follower, remove the other
        // (the new configuration {leader, stopped} has no quorum), then ask for another change.
        // The leader steps down an election timeout or two later (check-quorum); the second
        // request comes well before that.
        let followers = servers.filter { $0 !== leader }
        let stopped = followers[0]
        kill(stopped.pid, SIGSTOP)
        defer { kill(stopped.pid, SIGCONT) }
        try await Self.withAdminClient(leader.socketPath) { admin in
            var first = Lineage_Api_V1_ClusterLeaveRequest()
            first.name = Self.name(of: followers[1], in: servers)
            var options = CallOptions.defaults
            options.timeout = .seconds(5)
            let pending = Task { try? await admin.leave(first, options: options) }
            try await Task.sleep(for: .milliseconds(100))
            var second = Lineage_Api_V1_ClusterLeaveRequest()
            second.name = Self.name(of: stopped, in: servers)
            do {
                _ = try await admin.leave(second, options: options)
                Issue.record("a second change while one is pending was accepted")
            } catch let error as RPCError {
                #expect(error.code == .failedPrecondition, "\(error)")
                #expect(error.message.contains("another membership change is in progress"), "\(error)")
            }
            _ = await pending.value
        }
    }

    /// A ClusterMembers client on the TLS port presenting `credentials` (PEM chain and key).
    static func withMembersClient<T: Sendable>(
        port: Int, credentials: (chain: String, key: String),
        _ body: @Sendable (Lineage_Api_V1_ClusterMembers.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let chain = try ClusterTests.derBlocks(credentials.chain)
        let security: HTTP2ClientTransport.Posix.TransportSecurity = .tls(.defaults { tls in
            tls.certificateChain = chain.map { .bytes($0, format: .der) }
            tls.privateKey = .bytes(Array(credentials.key.utf8), format: .pem)
            tls.serverCertificateVerification = .noVerification
        })
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security)
        return try await withGRPCClient(transport: transport) { client in
            try await body(Lineage_Api_V1_ClusterMembers.Client(wrapping: client))
        }
    }

    static func withAdminClient<T: Sendable>(
        _ socketPath: String, _ body: @Sendable (Lineage_Api_V1_ClusterAdmin.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { client in
            try await body(Lineage_Api_V1_ClusterAdmin.Client(wrapping: client))
        }
    }
}
