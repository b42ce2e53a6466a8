@testable import Agent
import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import SwiftASN1
import Testing
import X509

#if canImport(Glibc)
import Glibc
#endif

/// One `lineage-agent run` against three real `lineage-server run` processes in a static cluster,
/// with `server_address` listing all three: the agent talks to one member, fails over by itself
/// when that member is SIGKILLed, resumes its sync stream on another (entries created after the
/// kill reach the workload), and keeps serving its cached SVIDs when the cluster loses quorum.
@Suite("lineage-agent against a 3-server cluster", .serialized, .timeLimit(.minutes(6)))
struct AgentClusterTests {
    static let workload = "spiffe://example.org/workload"

    /// The server named by the agent's last "Synced with server" line, and how many such lines
    /// there are.
    static func lastSync(_ agent: ExternalProcess.Running) -> (server: String, count: Int)? {
        let lines = agent.stderr.split(separator: "\n").filter { $0.contains("msg=\"Synced with server\"") }
        guard let last = lines.last, let field = last.split(separator: " ").first(where: { $0.hasPrefix("server=") }) else {
            return nil
        }
        return (String(field.dropFirst("server=".count)), lines.count)
    }

    static func fetchX509(_ directory: String, _ name: String) async throws -> ExternalProcess.Output {
        try await ExternalProcess.run(
            LineageServerProcess.binary("lineage-agent"), ["api", "fetch", "x509", "-socketPath", directory + "/agent.sock"],
            directory: directory, name: name, timeout: .seconds(15))
    }

    /// Polls `condition` every 20 ms until it holds (a non-Sendable closure: it may set locals).
    static func poll(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ExternalProcess.Failure(description: "timed out after \(timeout) waiting for \(what)")
    }

    static func median(_ values: [Duration]) -> Duration {
        let sorted = values.sorted()
        return sorted.isEmpty ? .zero : sorted[sorted.count / 2]
    }

    @Test("three members, one agent: SIGKILL of its server → it fails over, resumes sync, new entries arrive; no quorum → cached SVIDs served")
    func failover() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await ExternalProcess.makeX509PoPPKI(in: directory)
        let cluster = try LineageClusterProcess(
            in: directory, extraPlugins: #"NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "\#(directory)/node-ca.pem" } }"#)
        defer { cluster.stop() }
        try await cluster.start()
        let uid = geteuid()

        // Bootstrap from one member's bundle (the upstream root), a token and a workload entry.
        let bundle = try await cluster.members[0].cli(["bundle", "show"])
        #expect(bundle.status == 0, "\(bundle.stderr)")
        try bundle.stdout.write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        let token = try await cluster.members[1].cli(["token", "generate", "-spiffeID", "spiffe://example.org/myagent"])
        let tokenValue = try #require(token.stdout.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines)
        let entry = try await cluster.members[2].cli([
            "entry", "create", "-parentID", "spiffe://example.org/myagent", "-spiffeID", Self.workload, "-selector", "unix:uid:\(uid)",
        ])
        #expect(entry.status == 0, "\(entry.stderr)")

        try """
            agent {
                trust_domain = "example.org"
                server_address = "\(cluster.serverAddressList)"
                data_dir = "\(directory)/adata"
                socket_path = "\(directory)/agent.sock"
                trust_bundle_path = "\(directory)/bundle.pem"
            }
            plugins {
                NodeAttestor "join_token" { plugin_data {} }
                KeyManager "disk" { plugin_data { directory = "\(directory)/adata/keys" } }
                WorkloadAttestor "unix" { plugin_data {} }
            }
            """.write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
        let agent = try AgentServerIntegrationTests.startAgent(in: directory, ["-joinToken", tokenValue], name: "agent")
        defer { agent.stop() }
        do {
            try await AgentServerIntegrationTests.expectServing(agent, directory: directory, round: "0")
        } catch {
            Issue.record("agent stderr:\n\(agent.stderr.suffix(6_000))")
            throw error
        }

        let runs = Int(ProcessInfo.processInfo.environment["LINEAGE_FAILOVER_RUNS"] ?? "") ?? 2
        var syncTimes: [Duration] = [], propagationTimes: [Duration] = []
        do {
            for run in 0..<runs {
                let before = try #require(Self.lastSync(agent), "the agent logged no sync")
                let victim = try #require(cluster.member(at: before.server), "the agent synced with \(before.server)")
                victim.kill()
                let killedAt = ContinuousClock.now

                // The workload keeps getting its SVID while the agent moves.
                let during = try await Self.fetchX509(directory, "fetch-during-\(run)")
                #expect(during.status == 0 && during.stdout.contains(Self.workload), "\(during.stderr)")

                // The agent's first successful sync on another member.
                var moved: String?
                try await Self.poll("a sync on another server", timeout: .seconds(30)) {
                    guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited") }
                    guard let now = Self.lastSync(agent), now.count > before.count, now.server != before.server else { return false }
                    moved = now.server
                    return true
                }
                let syncTime = ContinuousClock.now - killedAt
                syncTimes.append(syncTime)
                let target = try #require(moved.flatMap { cluster.member(at: $0) })
                #expect(target.isRunning)

                // An entry created after the kill, on a surviving member, reaches the workload
                // through the resumed stream (and is minted on the new server).
                let spiffeID = "spiffe://example.org/after-kill-\(run)"
                let survivor = try #require(cluster.members.first { $0.isRunning && $0 !== target } ?? cluster.members.first { $0.isRunning })
                let created = try await survivor.cli([
                    "entry", "create", "-parentID", "spiffe://example.org/myagent", "-spiffeID", spiffeID, "-selector", "unix:uid:\(uid)",
                ])
                #expect(created.status == 0, "\(created.stderr)")
                let createdAt = ContinuousClock.now
                var fetches = 0
                try await Self.poll("\(spiffeID) served", timeout: .seconds(20)) {
                    fetches += 1
                    return try await Self.fetchX509(directory, "fetch-new-\(run)-\(fetches)").stdout.contains(spiffeID)
                }
                let propagation = ContinuousClock.now - createdAt
                propagationTimes.append(propagation)
                print("AgentClusterTests: run \(run): killed \(victim.name) (\(before.server)); synced with \(target.name) after \(syncTime); new entry served \(propagation) after entry create returned")

                try victim.start()
                try await cluster.waitUntilHealthy(victim)
            }

            // Every member presents spiffe://example.org/spire/server under its own CA, and the
            // agent's bundle (the upstream root) verifies each of them; another root does not.
            try await Self.expectMembersVerify(cluster, directory: directory)
            // x509pop (a challenge round trip) attests on every member, followers included.
            try await Self.expectX509PoPAttests(cluster, directory: directory)

            // A JWT-SVID minted now is cached until its half-life.
            let jwtArguments = ["api", "fetch", "jwt", "-audience", "cached", "-spiffeID", Self.workload, "-socketPath", directory + "/agent.sock"]
            let jwtBefore = try await ExternalProcess.run(
                LineageServerProcess.binary("lineage-agent"), jwtArguments, directory: directory, name: "jwt-quorum")
            #expect(jwtBefore.stdout.hasPrefix("token(\(Self.workload)):"), "\(jwtBefore.stderr)")

            // Kill the agent's server and one more: one member left, no quorum. The agent keeps
            // serving its cached X509- and JWT-SVIDs and keeps running.
            let current = try #require(Self.lastSync(agent))
            let first = try #require(cluster.member(at: current.server))
            first.kill()
            let second = try #require(cluster.members.first { $0.isRunning })
            second.kill()
            let deadline = ContinuousClock.now + .seconds(6)
            var round = 0
            while ContinuousClock.now < deadline {
                round += 1
                let fetch = try await Self.fetchX509(directory, "fetch-noquorum-\(round)")
                #expect(fetch.status == 0, "\(fetch.stderr)")
                #expect(fetch.stdout.contains(Self.workload) && fetch.stdout.contains("spiffe://example.org/after-kill-0"))
                try await Task.sleep(for: .milliseconds(500))
            }
            let jwt = try await ExternalProcess.run(
                LineageServerProcess.binary("lineage-agent"), jwtArguments, directory: directory, name: "jwt-noquorum")
            #expect(jwt.stdout == jwtBefore.stdout, "the cached JWT-SVID: \(jwt.stderr)")
            #expect(agent.isRunning, "\(agent.stderr.suffix(3_000))")
        } catch {
            Issue.record("agent stderr:\n\(agent.stderr.suffix(8_000))")
            throw error
        }
        print("AgentClusterTests: SIGKILL → first sync on another server: p50 \(Self.median(syncTimes)) over \(syncTimes.count) runs \(syncTimes)")
        print("AgentClusterTests: entry create → workload after failover: p50 \(Self.median(propagationTimes)) \(propagationTimes)")
        let failoverLines = agent.stderr.split(separator: "\n").filter { $0.contains("Server failed; moving to the next one") || $0.contains("Every server failed") }
        #expect(!failoverLines.isEmpty, "the agent logs where it moved")
    }

    /// The chain each member presents (openssl s_client), verified with the agent's own rule
    /// (`ServerTrust.verify`): against the upstream root it passes, against another root it fails.
    /// Once a member's own CA is active its chain is leaf + that CA, distinct per member.
    static func expectMembersVerify(_ cluster: LineageClusterProcess, directory: String) async throws {
        let root = try upstreamBundle(cluster)
        let trusted = ServerTrust(trustDomain: root.trustDomain, bundle: root)
        try LineageClusterProcess.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/other.key",
            "-out", directory + "/other.pem", "-days", "1", "-subj", "/O=Other/CN=Other Root",
            "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let other = try BootstrapBundle.parse(
            Array(try String(contentsOfFile: directory + "/other.pem", encoding: .utf8).utf8), format: .pem,
            trustDomain: root.trustDomain, source: "other.pem")
        let untrusted = ServerTrust(trustDomain: root.trustDomain, bundle: other)
        var memberCAs: [[UInt8]] = []
        for member in cluster.members {
            var chain: [Certificate] = []
            try await poll("\(member.name) presents its own CA", timeout: .seconds(30)) {
                chain = try presentedChain(port: member.port, directory: directory)
                return chain.count >= 2
            }
            try await trusted.verify(chain: chain, at: Date())
            await #expect(throws: ServerTrustError.self, "\(member.name) under another root") {
                try await untrusted.verify(chain: chain, at: Date())
            }
            memberCAs.append(try CertificateCoding.der(chain[1]))
        }
        #expect(Set(memberCAs).count == cluster.members.count, "each member signs with its own CA")
    }

    /// The upstream root as the agent's bundle.
    static func upstreamBundle(_ cluster: LineageClusterProcess) throws -> X509Bundle {
        try BootstrapBundle.parse(
            Array(try String(contentsOfFile: cluster.upstreamRoot, encoding: .utf8).utf8), format: .pem,
            trustDomain: TrustDomain(parsing: "example.org"), source: cluster.upstreamRoot)
    }

    static func expectX509PoPAttests(_ cluster: LineageClusterProcess, directory: String) async throws {
        let root = try upstreamBundle(cluster)
        let trust = ServerTrust(trustDomain: root.trustDomain, bundle: root)
        let attestor = try X509PoPAttestor(
            privateKeyPath: directory + "/node.key", certificatePath: directory + "/node.pem",
            intermediatesPath: directory + "/node-intermediate.pem")
        for member in cluster.members {
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "127.0.0.1", port: member.port),
                transportSecurity: try trust.transportSecurity(clientSVID: nil, insecure: false, logger: .silent))
            let attested = try await withGRPCClient(transport: transport) { client in
                try await ServerAPI(client: client, callTimeout: .seconds(20)).attest(using: attestor, key: SVIDRequest.newKey())
            }
            #expect(attested.svid.id.string.hasPrefix("spiffe://example.org/spire/agent/x509pop/"), "\(member.name): \(attested.svid.id)")
        }
    }

    static func presentedChain(port: Int, directory: String) throws -> [Certificate] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-showcerts", "-alpn", "h2"]
        let output = directory + "/s_client.out"
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        // After the handshake s_client prints what the server sends (HTTP/2 frames): not UTF-8.
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: output)), as: UTF8.self)
        return try text.components(separatedBy: "-----END CERTIFICATE-----").dropLast().map { block in
            let body = block.components(separatedBy: "-----BEGIN CERTIFICATE-----").last ?? ""
            return try Certificate(pemEncoded: "-----BEGIN CERTIFICATE-----" + body + "-----END CERTIFICATE-----")
        }
    }
}
