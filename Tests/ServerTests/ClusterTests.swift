import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Server
import SwiftASN1
import Testing
import Wire
import X509

#if canImport(Glibc)
import Glibc
#endif

/// Three real `lineage-server run` processes on loopback form a static cluster: writes on any
/// member are replicated (followers forward to the leader), the survivors elect a new leader
/// when the leader is killed, a restarted member catches up, and the Raft service refuses
/// callers that are not servers.
@Suite("Cluster", .serialized)
struct ClusterTests {
    static let names = ["s1", "s2", "s3"]

    /// The members, each configured with the other two as peers and the same upstream root;
    /// `settings` is added inside every `cluster { }` block.
    static func makeCluster(_ upstream: UpstreamAuthorityTests.UpstreamFiles, settings: String = "") throws -> [ServerProcess] {
        let base = Int.random(in: 10_000...32_000)
        let ports = names.indices.map { base + 10 * $0 }
        return try names.indices.map { index in
            let peers = names.indices.filter { $0 != index }.map { "\"\(names[$0])=127.0.0.1:\(ports[$0])\"" }
            return try ServerProcess(
                extraSettings: """
                        cluster {
                            node_name = "\(names[index])"
                            peers = [\(peers.joined(separator: ", "))]
                            \(settings)
                        }
                    """,
                extraPlugins: upstream.plugin(cert: upstream.rootCert, key: upstream.rootKey, bundle: nil),
                port: ports[index])
        }
    }

    /// Launches all members at once (none is healthy before a quorum runs) and waits for each.
    static func startCluster(_ upstream: UpstreamAuthorityTests.UpstreamFiles, settings: String = "") async throws -> [ServerProcess] {
        let servers = try makeCluster(upstream, settings: settings)
        for server in servers { try server.launch() }
        for server in servers { try await server.waitUntilHealthy() }
        return servers
    }

    static func get(_ url: String) async throws -> String {
        try await ServerProcess.run("/usr/bin/env", [
            "python3", "-c",
            "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())", url,
        ]).stdout
    }

    /// The member whose metrics say it leads, if exactly one of `servers` does.
    static func leader(among servers: [ServerProcess]) async throws -> ServerProcess? {
        var leaders: [ServerProcess] = []
        for server in servers {
            let metrics = try await get("http://127.0.0.1:\(server.metricsPort)/metrics")
            if metrics.split(separator: "\n").contains("lineage_raft_is_leader 1") { leaders.append(server) }
        }
        return leaders.count == 1 ? leaders[0] : nil
    }

    static func waitForLeader(among servers: [ServerProcess], within timeout: Duration) async throws -> ServerProcess {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = try await leader(among: servers) { return leader }
            try await Task.sleep(for: .milliseconds(50))
        }
        var seen: [String] = []
        for server in servers {
            let metrics = try await get("http://127.0.0.1:\(server.metricsPort)/metrics")
            seen.append(metrics.split(separator: "\n").filter { $0.hasPrefix("lineage_raft") }.joined(separator: " "))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "no leader within \(timeout): \(seen)"])
    }

    /// Polls `entry show -spiffeID` on `server` until the entry is listed or `timeout` passes.
    static func shows(_ server: ServerProcess, _ spiffeID: String, within timeout: Duration = .seconds(10)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        repeat {
            let show = try await server.cli(["entry", "show", "-spiffeID", spiffeID, "-socketPath", server.socketPath])
            if show.status == 0 && show.stdout.contains(spiffeID) { return true }
            try await Task.sleep(for: .milliseconds(100))
        } while ContinuousClock.now < deadline
        return false
    }

    static func createEntry(on server: ServerProcess, _ spiffeID: String) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await server.cli([
            "entry", "create", "-parentID", "spiffe://example.org/agent", "-spiffeID", spiffeID,
            "-selector", "unix:uid:1001", "-socketPath", server.socketPath,
        ])
    }

    @Test("replicates entries, fails over after SIGKILL of the leader, and a restarted member catches up")
    func replicationAndFailover() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let servers = try await Self.startCluster(upstream)

        let leader = try await Self.waitForLeader(among: servers, within: .seconds(10))
        let followers = servers.filter { $0 !== leader }

        // A write on a follower is forwarded to the leader and visible on the follower at once
        // (read-your-writes), then on every member.
        let created = try await Self.createEntry(on: followers[0], "spiffe://example.org/w1")
        #expect(created.status == 0, "\(created.stderr)")
        let immediate = try await followers[0].cli(["entry", "show", "-spiffeID", "spiffe://example.org/w1",
                                                    "-socketPath", followers[0].socketPath])
        #expect(immediate.stdout.contains("spiffe://example.org/w1"), "read-your-writes on the follower: \(immediate.stdout)")
        for server in servers { #expect(try await Self.shows(server, "spiffe://example.org/w1")) }

        // A rejection travels back faithfully: the same entry again is AlreadyExists on a follower too.
        let duplicate = try await Self.createEntry(on: followers[1], "spiffe://example.org/w1")
        #expect((duplicate.stdout + duplicate.stderr).contains("AlreadyExists"), "\(duplicate)")

        // Every member serves the same bundle: the pre-shared upstream root.
        let rootDER = try Self.derBlocks(String(contentsOfFile: upstream.rootCert, encoding: .utf8))
        for server in servers {
            let bundle = try await server.cli(["bundle", "show", "-socketPath", server.socketPath])
            #expect(bundle.status == 0)
            #expect(try Self.derBlocks(bundle.stdout) == rootDER, "\(bundle.stdout)")
        }

        // SIGKILL the leader: the other two elect one and take writes.
        leader.kill(SIGKILL)
        let killedAt = ContinuousClock.now
        let newLeader = try await Self.waitForLeader(among: followers, within: .seconds(10))
        let electionTime = ContinuousClock.now - killedAt
        print("ClusterTests: new leader \(newLeader.port) elected \(electionTime) after SIGKILL of the leader")
        #expect(electionTime < .seconds(5))
        let writer = followers.first { $0 !== newLeader } ?? newLeader
        let afterFailover = try await Self.createEntry(on: writer, "spiffe://example.org/w2")
        #expect(afterFailover.status == 0, "\(afterFailover.stderr)")
        #expect(try await Self.shows(newLeader, "spiffe://example.org/w2"))

        // The killed member restarts and catches up with what it missed.
        try await leader.start()
        #expect(try await Self.shows(leader, "spiffe://example.org/w2"))
        #expect(try await Self.shows(leader, "spiffe://example.org/w1"))
    }

    @Test("the Raft service refuses callers without the server SVID before stepping anything")
    func nonServerCallersRefused() async throws {
        let upstream = try UpstreamAuthorityTests.UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let servers = try await Self.startCluster(upstream)
        let target = servers[0]
        let membership = try ClusterMembership(
            nodeName: "s1", peers: [("s2", "127.0.0.1:\(servers[1].port)"), ("s3", "127.0.0.1:\(servers[2].port)")])

        // A workload SVID from this trust domain's own CA: valid, but not a server's.
        let minted = target.directory + "/workload"
        try FileManager.default.createDirectory(atPath: minted, withIntermediateDirectories: true)
        let mint = try await target.cli(["x509", "mint", "-spiffeID", "spiffe://example.org/workload", "-write", minted,
                                         "-socketPath", target.socketPath])
        #expect(mint.status == 0, "\(mint.stderr)")
        let workload = try (String(contentsOfFile: minted + "/svid.pem", encoding: .utf8),
                            String(contentsOfFile: minted + "/key.pem", encoding: .utf8))
        // The server ID signed by the shared upstream (what a member presents): the control.
        let server = try Self.serverSVID(upstream)

        var sender = Lineage_Api_V1_ClusterSender()
        sender.nodeName = "s2"
        sender.membershipFingerprint = Data(membership.fingerprint)
        var step = Lineage_Api_V1_StepRequest()
        step.sender = sender
        var forward = Lineage_Api_V1_ForwardRequest()
        forward.sender = sender
        forward.event = Data([1, 2, 3])
        forward.requestClient = 7
        forward.requestSequence = 1

        let stepRequest = step, forwardRequest = forward
        for credentials in [Optional(workload), nil] {
            let codes = try await Self.withClusterClient(port: target.port, credentials: credentials) { client in
                var codes: [RPCError.Code?] = []
                do { _ = try await client.step(stepRequest); codes.append(nil) } catch let error as RPCError { codes.append(error.code) }
                do {
                    _ = try await client.stepStream { writer in try await writer.write(stepRequest) }
                    codes.append(nil)
                } catch let error as RPCError { codes.append(error.code) }
                do { _ = try await client.forward(forwardRequest); codes.append(nil) } catch let error as RPCError { codes.append(error.code) }
                return codes
            }
            #expect(codes == [.permissionDenied, .permissionDenied, .permissionDenied], "\(credentials == nil ? "no" : "workload") SVID")
        }
        let entries = try await target.cli(["entry", "count", "-socketPath", target.socketPath])
        #expect(entries.stdout.contains("0 registration entries"), "nothing was appended: \(entries.stdout)")

        // A server SVID gets through (an empty batch steps nothing), unless it names a member
        // list other than the cluster's; a stream must name its sender first.
        let refusals = try await Self.withClusterClient(port: target.port, credentials: server) { client in
            _ = try await client.step(stepRequest)
            _ = try await client.stepStream { writer in
                try await writer.write(stepRequest)
                try await writer.write(Lineage_Api_V1_StepRequest())
            }
            var other = stepRequest
            other.sender.membershipFingerprint = Data(repeating: 0, count: 32)
            var codes: [RPCError.Code?] = []
            do { _ = try await client.step(other); codes.append(nil) } catch let error as RPCError { codes.append(error.code) }
            do {
                _ = try await client.stepStream { writer in try await writer.write(Lineage_Api_V1_StepRequest()) }
                codes.append(nil)
            } catch let error as RPCError { codes.append(error.code) }
            return codes
        }
        #expect(refusals == [.failedPrecondition, .invalidArgument])
    }

    // MARK: - Helpers

    /// The DER of every certificate in a PEM text, in order.
    static func derBlocks(_ pem: String) throws -> [[UInt8]] {
        let blocks = pem.components(separatedBy: "-----END CERTIFICATE-----").dropLast()
        return try blocks.map { block in
            let body = block.components(separatedBy: "-----BEGIN CERTIFICATE-----").last ?? ""
            let certificate = try Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----" + body + "-----END CERTIFICATE-----")
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
    }

    /// `spiffe://example.org/spire/server` signed by the upstream root with openssl.
    static func serverSVID(_ upstream: UpstreamAuthorityTests.UpstreamFiles) throws -> (String, String) {
        let key = upstream.directory + "/server.key", cert = upstream.directory + "/server.pem"
        try UpstreamAuthorityTests.UpstreamFiles.openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", upstream.directory + "/server.csr", "-subj", "/O=SPIRE",
        ])
        let extensions = upstream.directory + "/server.ext"
        try """
            basicConstraints=critical,CA:false
            keyUsage=critical,digitalSignature
            subjectAltName=URI:spiffe://example.org/spire/server

            """.write(toFile: extensions, atomically: true, encoding: .utf8)
        try UpstreamAuthorityTests.UpstreamFiles.openssl([
            "x509", "-req", "-in", upstream.directory + "/server.csr", "-CA", upstream.rootCert, "-CAkey", upstream.rootKey,
            "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", extensions,
        ])
        return (try String(contentsOfFile: cert, encoding: .utf8), try String(contentsOfFile: key, encoding: .utf8))
    }

    /// A Cluster client on `port` presenting `credentials` (PEM chain and key), or no certificate.
    static func withClusterClient<T: Sendable>(
        port: Int, credentials: (chain: String, key: String)?,
        _ body: @Sendable (Lineage_Api_V1_Cluster.Client<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let chain = try credentials.map { try derBlocks($0.chain) } ?? []
        let security: HTTP2ClientTransport.Posix.TransportSecurity = .tls(.defaults { tls in
            tls.certificateChain = chain.map { .bytes($0, format: .der) }
            tls.privateKey = credentials.map { .bytes(Array($0.key.utf8), format: .pem) }
            tls.serverCertificateVerification = .noVerification
        })
        let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security)
        return try await withGRPCClient(transport: transport) { client in
            try await body(Lineage_Api_V1_Cluster.Client(wrapping: client))
        }
    }
}
