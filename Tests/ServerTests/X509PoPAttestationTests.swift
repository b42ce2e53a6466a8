import Attestation
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import Testing
import Wire
import X509

/// x509pop against a real `lineage-server run`: the whole attest stream (payload → challenge →
/// response → SVID) over TLS, with a PKI made by openssl (Tests/Helpers/x509pop-pki.sh).
@Suite("Server x509pop attestation", .serialized)
struct X509PoPAttestationTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A node's certificates (PEM files in the server's directory) and its key.
    struct Node {
        let chainDER: [[UInt8]]
        let key: X509PoPSigningKey
        let leafFingerprint: String

        init(directory: String) async throws {
            let made = try await ServerProcess.run(
                "/bin/sh", [Self.script, directory])
            #expect(made.status == 0, "\(made.stderr)")
            let pem = { (name: String) throws -> String in try String(contentsOfFile: directory + "/" + name, encoding: .utf8) }
            let chain = try CertificateCoding.certificates(pem: try pem("node.pem") + pem("node-intermediate.pem"))
            chainDER = try chain.map { certificate throws(SPIFFEError) in try CertificateCoding.der(certificate) }
            key = try X509PoPSigningKey(pemEncoded: try pem("node.key"))
            leafFingerprint = try await Self.fingerprint(directory + "/node.pem")
        }

        /// openssl's SHA-1 fingerprint (not our code's), as lowercase hex.
        static func fingerprint(_ path: String) async throws -> String {
            let output = try await ServerProcess.run("/usr/bin/openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha1"])
            return String(output.stdout.split(separator: "=").last ?? "")
                .replacingOccurrences(of: ":", with: "").lowercased().trimmingCharacters(in: .whitespacesAndNewlines)
        }

        static var script: String { X509PoPAttestationTests.repositoryRoot.appendingPathComponent("Tests/Helpers/x509pop-pki.sh").path }
    }

    static func temporaryDirectory() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("x509pop-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    enum Answer: Sendable {
        case sign(X509PoPSigningKey)
        case replace(@Sendable ([UInt8]) -> [UInt8])
    }

    /// The attest stream as an agent drives it; `answer` decides what goes back for the challenge.
    static func attest(
        _ client: GRPCClient<HTTP2ClientTransport.Posix>, payload: [UInt8], answer: Answer
    ) async throws -> Spire_Api_Server_Agent_V1_AttestAgentResponse.Result {
        let agent = Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client)
        var first = Spire_Api_Server_Agent_V1_AttestAgentRequest()
        first.params.data.type = "x509pop"
        first.params.data.payload = Data(payload)
        first.params.params.csr = Data(try AttestationTests.csr().der)
        let (outgoing, continuation) = AsyncStream.makeStream(
            of: Spire_Api_Server_Agent_V1_AttestAgentRequest.self, bufferingPolicy: .bufferingOldest(4))
        continuation.yield(first)
        defer { continuation.finish() }
        return try await agent.attestAgent(
            requestProducer: { writer in for await message in outgoing { try await writer.write(message) } },
            onResponse: { response in
                for try await message in response.messages {
                    switch message.step {
                    case .challenge(let challenge):
                        var reply = Spire_Api_Server_Agent_V1_AttestAgentRequest()
                        switch answer {
                        case .sign(let key):
                            let parsed = try X509PoPChallenge(jsonEncoded: Array(challenge))
                            let response = try key.respond(to: parsed, nonce: [UInt8](repeating: 5, count: 32))
                            reply.challengeResponse = Data(response.jsonEncoded())
                        case .replace(let make):
                            reply.challengeResponse = Data(make(Array(challenge)))
                        }
                        continuation.yield(reply)
                    case .result(let result):
                        continuation.finish()
                        return result
                    case nil:
                        break
                    }
                }
                throw RPCError(code: .internalError, message: "no result")
            })
    }

    @Test("x509pop attests over the real stream: agent ID from the leaf fingerprint, selectors recorded, re-attestable; evicted agents attest again, banned ones cannot")
    func attestation() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try await Node(directory: directory)
        let server = try ServerProcess(attestationRateLimit: false, x509popCABundle: directory + "/node-ca.pem")
        try await server.start()
        let socket = ["-socketPath", server.socketPath]
        let payload = X509PoP.attestationPayload(chainDER: node.chainDER)

        let result = try await AttestationTests.withAgentClient(server) {
            try await Self.attest($0, payload: payload, answer: .sign(node.key))
        }
        let agentID = "spiffe://example.org/spire/agent/x509pop/\(node.leafFingerprint)"
        #expect("spiffe://\(result.svid.id.trustDomain)\(result.svid.id.path)" == agentID)
        #expect(result.reattestable)
        let shown = try await server.cli(["agent", "show", "-spiffeID", agentID] + socket).stdout
        #expect(shown.contains("Attestation type  : x509pop") && shown.contains("Can re-attest     : true"), "\(shown)")
        // The selectors are in the agent's record: the CN, the CA path, the serial, the SAN.
        var selectors = ["x509pop:subject:cn:node-1", "x509pop:serialnumber:1234", "x509pop:san:datacenter:eu-1"]
        for name in ["node-intermediate.pem", "node-ca.pem"] {
            selectors.append("x509pop:ca:fingerprint:\(try await Node.fingerprint(directory + "/" + name))")
        }
        let matched = try await server.cli(
            ["agent", "count", "-matchSelectorsOn", "exact"] + selectors.flatMap { ["-selector", $0] } + socket)
        #expect(matched.stdout.contains("1 attested agent"), "\(matched.stdout)\(matched.stderr)")

        // Evicted: the node proves itself again and gets a fresh SVID.
        #expect(try await server.cli(["agent", "evict", "-spiffeID", agentID] + socket).status == 0)
        let again = try await AttestationTests.withAgentClient(server) {
            try await Self.attest($0, payload: payload, answer: .sign(node.key))
        }
        #expect(again.svid.id.path == result.svid.id.path && again.svid.certChain != result.svid.certChain)

        // Banned: refused, and nothing is signed for it.
        #expect(try await server.cli(["agent", "ban", "-spiffeID", agentID] + socket).status == 0)
        let issuedBefore = try await server.cli(["log", "export", "-dataDir", server.dataDir]).stdout
            .components(separatedBy: "X509SVIDIssued").count
        let banned = await #expect(throws: RPCError.self) {
            try await AttestationTests.withAgentClient(server) { try await Self.attest($0, payload: payload, answer: .sign(node.key)) }
        }
        #expect(banned?.code == .permissionDenied, "\(String(describing: banned))")
        let issuedAfter = try await server.cli(["log", "export", "-dataDir", server.dataDir]).stdout
            .components(separatedBy: "X509SVIDIssued").count
        #expect(issuedAfter == issuedBefore)

        let metrics = try await ServerProcess.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(server.metricsPort)/metrics"]).stdout
        #expect(metrics.contains(#"lineage_attestations_total{type="x509pop",result="ok"} 2"#), "\(metrics)")
        #expect(metrics.contains(#"lineage_attestations_total{type="x509pop",result="refused"} 1"#), "\(metrics)")
    }

    @Test("refusals on the real stream: another CA, a response from another key, a garbled response")
    func refusals() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let node = try await Node(directory: directory)
        let payload = X509PoP.attestationPayload(chainDER: node.chainDER)

        let otherCA = try ServerProcess(attestationRateLimit: false, x509popCABundle: directory + "/other-ca.pem")
        try await otherCA.start()
        let untrusted = await #expect(throws: RPCError.self) {
            try await AttestationTests.withAgentClient(otherCA) { try await Self.attest($0, payload: payload, answer: .sign(node.key)) }
        }
        #expect(untrusted?.code == .permissionDenied && untrusted?.message.contains("untrusted") == true, "\(String(describing: untrusted))")
        otherCA.kill(SIGTERM)

        let server = try ServerProcess(attestationRateLimit: false, x509popCABundle: directory + "/node-ca.pem")
        try await server.start()
        let impostor = try X509PoPSigningKey(pemEncoded: try String(contentsOfFile: directory + "/other-ca.key", encoding: .utf8))
        let wrongKey = await #expect(throws: RPCError.self) {
            try await AttestationTests.withAgentClient(server) { try await Self.attest($0, payload: payload, answer: .sign(impostor)) }
        }
        #expect(wrongKey?.code == .permissionDenied && wrongKey?.message.contains("badSignature") == true, "\(String(describing: wrongKey))")
        let garbled = await #expect(throws: RPCError.self) {
            try await AttestationTests.withAgentClient(server) {
                try await Self.attest($0, payload: payload, answer: .replace { _ in Array("not json".utf8) })
            }
        }
        #expect(garbled?.code == .invalidArgument, "\(String(describing: garbled))")
        let count = try await server.cli(["agent", "count", "-socketPath", server.socketPath]).stdout
        #expect(count.contains("0 attested agents"), "\(count)")
    }

    @Test("a missing ca_bundle_path stops the server at start with an error naming the file")
    func missingCABundle() async throws {
        let server = try ServerProcess(x509popCABundle: "/nonexistent/node-ca.pem")
        let run = try await ServerProcess.run(server.executable, ["run", "-config", server.configPath])
        #expect(run.status != 0)
        #expect(run.stderr.contains("/nonexistent/node-ca.pem"), "\(run.stderr)")
    }
}
