import Agent
import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import Synchronization
import Testing
import Wire
import X509

/// Runs an `AgentRuntime` against a `FakeLineageServer` in a fresh temporary directory.
struct AgentHarness: Sendable {
    let directory: String
    let dataDir: String
    let socketPath: String
    let runtime: AgentRuntime
    let logs: LogSink
    /// What `run()` threw, once it has (nil while it runs or after a clean stop).
    let runError = ErrorBox()

    final class LogSink: Sendable {
        private let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { if $0.count < 10_000 { $0.append(line) } } }
        var all: [String] { lines.withLock { $0 } }
    }

    static func configuration(
        authority: TestAuthority, port: Int, directory: String, token: String?
    ) -> AgentRuntime.Configuration {
        AgentRuntime.Configuration(
            trustDomain: authority.trustDomain, servers: [ServerEndpoint(host: "127.0.0.1", port: port)],
            dataDir: directory + "/data", bootstrapBundle: authority.x509Bundle, insecureBootstrap: false,
            joinToken: token, endpoint: .init(socketPath: directory + "/public/api.sock"))
    }

    /// Starts the agent, runs `body`, stops the agent (bounded) and returns what `run()` threw.
    @discardableResult
    static func with(
        _ configuration: AgentRuntime.Configuration, directory: String,
        _ body: @Sendable (AgentHarness) async throws -> Void
    ) async throws -> (any Error)? {
        let logs = LogSink()
        let runtime = AgentRuntime(
            configuration: configuration, logger: AgentLogger(level: .debug, sink: { logs.append($0) }))
        let harness = AgentHarness(
            directory: directory, dataDir: configuration.dataDir, socketPath: configuration.endpoint.socketPath,
            runtime: runtime, logs: logs)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await runtime.run() } catch { harness.runError.set(error) }
            }
            do {
                try await body(harness)
            } catch {
                runtime.beginGracefulShutdown()
                Issue.record("agent log:\n\(logs.all.joined(separator: "\n"))")
                throw error
            }
            runtime.beginGracefulShutdown()
            try await group.waitForAll()
        }
        return harness.runError.value
    }

    final class ErrorBox: Sendable {
        private let stored = Mutex<(any Error)?>(nil)
        func set(_ error: any Error) { stored.withLock { $0 = error } }
        var value: (any Error)? { stored.withLock { $0 } }
    }

    /// Runs an agent that is expected to stop on its own, returning what `run()` threw.
    static func runUntilItFails(_ configuration: AgentRuntime.Configuration, logs: LogSink = LogSink()) async -> String {
        let runtime = AgentRuntime(configuration: configuration, logger: AgentLogger(level: .debug, sink: { logs.append($0) }))
        do {
            try await runtime.run()
            Issue.record("run() returned without an error; log:\n\(logs.all.joined(separator: "\n"))")
            return ""
        } catch {
            return String(describing: error)
        }
    }

    static func temporaryDirectory() throws -> String {
        let directory = "/tmp/lineage-ag-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        return directory
    }

    func fetchX509() async throws -> WorkloadAPI_X509SVIDResponse {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { grpc in
            let client = WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc)
            return try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) {
                try await $0.messages.first { _ in true }!
            }
        }
    }

    func fetchJWT(audience: String) async throws -> WorkloadAPI_JWTSVIDResponse {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { grpc in
            var request = WorkloadAPI_JWTSVIDRequest()
            request.audience = [audience]
            return try await WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc).fetchJWTSVID(request, metadata: workloadHeader)
        }
    }
}

@Suite("Agent runtime against a test-double server on loopback TLS", .serialized, .timeLimit(.minutes(2)))
struct AgentRuntimeTests {
    static let me = "unix:uid:\(geteuid())"

    @Test("join_token attestation → sync → BatchNewX509SVID → a workload fetches its X509-SVID")
    func attestSyncMintServe() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-1")
        let agentID = try authority.id("/spire/agent/join_token/token-1")
        fake.upsert([
            try fake.entry("e-web", path: "/web", parent: agentID, selectors: [Self.me], dnsNames: ["web.example"]),
            try fake.entry("e-other", path: "/other", parent: agentID, selectors: ["unix:uid:99999"]),
            try fake.entry("e-foreign", path: "/foreign", parent: try authority.id("/spire/agent/join_token/x"), selectors: [Self.me]),
        ])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-1")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                #expect(harness.runtime.agentSVID?.id == agentID)
                try await eventually("socket", timeout: .seconds(15)) { FileManager.default.fileExists(atPath: harness.socketPath) }
                let response = try await harness.fetchX509()
                #expect(response.svids.map(\.spiffeID) == ["spiffe://example.org/web"])
                let svid = try X509SVID(derEncoded: Array(response.svids[0].x509Svid), privateKey: Array(response.svids[0].x509SvidKey))
                _ = try await svid.verify(bundles: authority.x509Bundle, at: Date())
                #expect(try svid.leaf.extensions.subjectAlternativeNames?.contains(.dnsName("web.example")) == true)
                #expect(Array(response.svids[0].bundle) == (try authority.x509Bundle.derEncoded()))
                // Entries for other agents (none sent by a real server) and other workloads are not minted for
                // this workload; e-foreign's parent is not this agent, so it is never minted at all.
                #expect(fake.state.withLock { $0.minted["e-foreign"] } == nil)
                #expect(fake.state.withLock { $0.attestCount } == 1)

                // A new entry reaches the workload through the stream; a removed one disappears.
                fake.upsert([try fake.entry("e-db", path: "/db", parent: agentID, selectors: [Self.me])])
                try await eventually("e-db served", timeout: .seconds(15)) {
                    try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/db", "spiffe://example.org/web"]
                }
                fake.delete(["e-web"])
                try await eventually("e-web dropped", timeout: .seconds(15)) {
                    try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/db"]
                }

                // JWT-SVIDs are minted by the server on demand and cached until half-life.
                let jwt = try await harness.fetchJWT(audience: "spiffe://example.org/api")
                #expect(jwt.svids.map(\.spiffeID) == ["spiffe://example.org/db"])
                _ = try await harness.fetchJWT(audience: "spiffe://example.org/api")
                #expect(fake.state.withLock { $0.jwtCount } == 1)
            }
        }
    }

    @Test("a dropped sync stream is resumed from the last revision, not from a snapshot")
    func syncResumes() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-7")
        let agentID = try authority.id("/spire/agent/join_token/token-7")
        fake.upsert([try fake.entry("e1", path: "/a", parent: agentID, selectors: [Self.me])])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-7")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                let revision = harness.runtime.cache.revision
                fake.dropWatchers()
                try await eventually("a second watch", timeout: .seconds(30)) { fake.state.withLock { $0.watchRequests.count } >= 2 }
                #expect(fake.state.withLock { $0.watchRequests } .prefix(2) == [0, revision])
                fake.upsert([try fake.entry("e2", path: "/b", parent: agentID, selectors: [Self.me])])
                try await eventually("e2 served after the reconnect", timeout: .seconds(30)) {
                    try await harness.fetchX509().svids.count == 2
                }
            }
        }
    }

    @Test("a restart reuses the stored agent SVID (no second attestation); files are 0600 in a 0700 directory")
    func restartReusesStoredSVID() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-2")
        let agentID = try authority.id("/spire/agent/join_token/token-2")
        fake.upsert([try fake.entry("e1", path: "/w", parent: agentID, selectors: [Self.me])])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-2")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
            }
            #expect(Self.mode(directory + "/data") == 0o700)
            #expect(Self.mode(directory + "/data/agent_svid.key") == 0o600)
            #expect(Self.mode(directory + "/data/agent_svid.pem") == 0o600)
            // The token is spent: only the stored SVID can bring the agent up again.
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready again", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                #expect(harness.runtime.agentSVID?.id == agentID)
                // The cache can be ready a moment before the endpoint listens.
                try await eventually("socket", timeout: .seconds(15)) { FileManager.default.fileExists(atPath: harness.socketPath) }
                #expect(try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/w"])
            }
            #expect(fake.state.withLock { $0.attestCount } == 1)
        }
    }

    @Test("the agent SVID is renewed at half-life over mTLS and workload SVIDs rotate at half-life")
    func renewalAndRotation() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.state.withLock {
            // NotBefore is backdated 10 s (SPIRE's template), so these half-lives fall 3 s and 2 s
            // after issuance.
            $0.agentTTL = 16
            $0.svidTTL = 14
        }
        fake.addJoinToken("token-3")
        let agentID = try authority.id("/spire/agent/join_token/token-3")
        fake.upsert([try fake.entry("e1", path: "/w", parent: agentID, selectors: [Self.me])])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-3")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                let first = try #require(harness.runtime.agentSVID)
                try await eventually("two renewals", timeout: .seconds(30)) { fake.state.withLock { $0.renewCount } >= 2 }
                try await eventually("a new agent SVID in use", timeout: .seconds(30)) { harness.runtime.agentSVID != first }
                try await eventually("rotated SVIDs", timeout: .seconds(30)) { fake.state.withLock { $0.minted["e1"] ?? 0 } >= 3 }
                // Still served after renewals (the mTLS sessions follow the new agent SVID).
                #expect(try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/w"])
            }
        }
    }

    @Test("a refused agent SVID with a join token (not re-attestable): removed from disk, run() fails clearly")
    func refusalRemovesSVID() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-4")
        let agentID = try authority.id("/spire/agent/join_token/token-4")
        fake.upsert([try fake.entry("e1", path: "/w", parent: agentID, selectors: [Self.me])])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-4")
            let error = try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                fake.refuse(agentID)
                fake.upsert([try fake.entry("e2", path: "/w2", parent: agentID, selectors: [Self.me])])
                // The sync stream stays open; the refusal shows on the next call (the mint).
                try await eventually("agent stopped", timeout: .seconds(30)) {
                    !FileManager.default.fileExists(atPath: directory + "/data/agent_svid.pem")
                }
                // The file goes first; run() fails a moment later (a shutdown now would hide it).
                try await eventually("run() failed", timeout: .seconds(30)) { harness.runError.value != nil }
            }
            let message = error.map { String(describing: $0) } ?? ""
            #expect(message.contains("refused the agent SVID"))
        }
    }

    @Test("a corrupt stored SVID chain is reported and the agent attests again")
    func corruptStoredSVID() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-5")
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        try "garbage".write(toFile: directory + "/data/agent_svid.pem", atomically: true, encoding: .utf8)
        try AgentSVIDStoreTests.writePrivate(
            try authority.svid("/spire/agent/join_token/old").privateKey.pemEncoded(), to: directory + "/data/agent_svid.key")
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-5")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                #expect(harness.logs.all.contains { $0.contains("Stored agent SVID is unusable") })
                #expect(harness.runtime.agentSVID?.id == (try authority.id("/spire/agent/join_token/token-5")))
            }
        }
    }

    @Test("a corrupt agent key file stops the agent with an error naming it; nothing is attested over it")
    func corruptKeyFile() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-8")
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/keys", withIntermediateDirectories: true)
        try AgentSVIDStoreTests.writePrivate("garbage", to: directory + "/keys/agent_svid.key")
        try await fake.serve { port in
            var configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-8")
            configuration.keyManager = .disk(directory: directory + "/keys")
            let message = await AgentHarness.runUntilItFails(configuration)
            #expect(message.contains(directory + "/keys/agent_svid.key") && message.contains("not a PEM private key"), "\(message)")
            #expect(fake.state.withLock { $0.attestCount } == 0)
        }
    }

    @Test("a server whose certificate is not signed by the bootstrap bundle is not trusted")
    func untrustedServer() async throws {
        let authority = try TestAuthority("example.org")
        let impostor = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: impostor)
        fake.addJoinToken("token-6")
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await fake.serve { port in
            let configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-6")
            try await AgentHarness.with(configuration, directory: directory) { harness in
                try await eventually("a refused handshake", timeout: .seconds(30)) {
                    harness.logs.all.contains { $0.contains("Server is not trusted") }
                }
                #expect(fake.state.withLock { $0.attestCount } == 0)
            }
        }
    }

    static func mode(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int) ?? 0
    }
}
