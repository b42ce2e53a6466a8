import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftASN1
import Testing
import Wire
import X509

/// Node attestation against a real server over TLS: the join-token race, single use, banned
/// agents, and the agent-facing calls' authorization.
@Suite("Server attestation", .serialized)
struct AttestationTests {
    /// A P-256 CSR with an empty subject: the server takes the ID from its own decision.
    static func csr(uri: String? = nil) throws -> (der: [UInt8], key: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        var extensions = Certificate.Extensions()
        if let uri { try extensions.append(Certificate.Extension(SubjectAlternativeNames([.uniformResourceIdentifier(uri)]), critical: false)) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: DistinguishedName(), privateKey: Certificate.PrivateKey(key),
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return (serializer.serializedBytes, key)
    }

    /// Runs `body` with a TLS client of the server's agent API that trusts the bundle.
    static func withAgentClient<T: Sendable>(
        _ server: ServerProcess, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let bundle = try await server.cli(["bundle", "show", "-socketPath", server.socketPath]).stdout
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: server.port),
            transportSecurity: .tls { config in
                config.trustRoots = .certificates([.bytes(Array(bundle.utf8), format: .pem)])
                config.serverCertificateVerification = .noHostnameVerification
            })
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    /// An mTLS client presenting `svid` (DER leaf) with `key`.
    static func withSVIDClient<T: Sendable>(
        _ server: ServerProcess, svid: Data, key: P256.Signing.PrivateKey,
        _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T
    ) async throws -> T {
        let bundle = try await server.cli(["bundle", "show", "-socketPath", server.socketPath]).stdout
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: server.port),
            transportSecurity: .mTLS(
                certificateChain: [.bytes(Array(svid), format: .der)],
                privateKey: .bytes(Array(key.pemRepresentation.utf8), format: .pem)
            ) { config in
                config.trustRoots = .certificates([.bytes(Array(bundle.utf8), format: .pem)])
                config.serverCertificateVerification = .noHostnameVerification
            })
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    static func attest(_ client: GRPCClient<HTTP2ClientTransport.Posix>, token: String) async throws -> Spire_Api_Types_X509SVID {
        try await attest(client, token: token, csr: try csr().der)
    }

    static func attest(_ client: GRPCClient<HTTP2ClientTransport.Posix>, token: String, csr: [UInt8]) async throws -> Spire_Api_Types_X509SVID {
        let agent = Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client)
        var request = Spire_Api_Server_Agent_V1_AttestAgentRequest()
        var params = Spire_Api_Server_Agent_V1_AttestAgentRequest.Params()
        params.data.type = "join_token"
        params.data.payload = Data(token.utf8)
        params.params.csr = Data(csr)
        request.params = params
        let first = request
        return try await agent.attestAgent(
            requestProducer: { writer in try await writer.write(first) },
            onResponse: { response in
                for try await message in response.messages {
                    if case .result(let result) = message.step { return result.svid }
                }
                throw RPCError(code: .internalError, message: "no result")
            })
    }

    /// The token from `token generate` output (`Token: …`, then a warning when no -spiffeID).
    static func token(from output: String) -> String {
        let line = output.split(separator: "\n").first { $0.hasPrefix("Token: ") } ?? ""
        return String(line.dropFirst("Token: ".count))
    }

    @Test("50 concurrent attestations with one join token give exactly one agent; the token is single use")
    func joinTokenRace() async throws {
        // SPIRE's 1/s attestation limit would serialize the race; the compare-and-set is the point.
        let server = try ServerProcess(attestationRateLimit: false)
        try await server.start()
        let generated = try await server.cli(["token", "generate", "-socketPath", server.socketPath])
        let token = Self.token(from: generated.stdout)
        let outcomes = try await Self.withAgentClient(server) { client in
            await withTaskGroup(of: Result<Spire_Api_Types_X509SVID, any Error>.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        do { return .success(try await Self.attest(client, token: token)) } catch { return .failure(error) }
                    }
                }
                return await group.reduce(into: [Result<Spire_Api_Types_X509SVID, any Error>]()) { $0.append($1) }
            }
        }
        let successes = outcomes.compactMap { try? $0.get() }
        #expect(successes.count == 1)
        for case .failure(let error) in outcomes {
            #expect((error as? RPCError)?.code == .permissionDenied, "\(error)")
            break
        }
        if let svid = successes.first {
            #expect(svid.id.path == "/spire/agent/join_token/\(token)")
            // The agent SVID verifies against the bundle (openssl as the independent checker).
            let pem = "-----BEGIN CERTIFICATE-----\n\(svid.certChain[0].base64EncodedString(options: .lineLength64Characters))\n-----END CERTIFICATE-----\n"
            try pem.write(toFile: server.directory + "/agent.pem", atomically: true, encoding: .utf8)
            try await server.cli(["bundle", "show", "-socketPath", server.socketPath]).stdout
                .write(toFile: server.directory + "/bundle.pem", atomically: true, encoding: .utf8)
            let verify = try await ServerProcess.run(
                "/usr/bin/openssl", ["verify", "-CAfile", server.directory + "/bundle.pem", server.directory + "/agent.pem"])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
        let agents = try await server.cli(["agent", "count", "-socketPath", server.socketPath])
        #expect(agents.stdout.contains("1 attested agent"), "\(agents.stdout)")
        // Used once, gone for good.
        await #expect(throws: RPCError.self) { try await Self.withAgentClient(server) { try await Self.attest($0, token: token) } }
    }

    @Test("an unknown token is refused; agent ban is recorded and shown")
    func refusals() async throws {
        let server = try ServerProcess()
        try await server.start()
        let error = await #expect(throws: RPCError.self) {
            try await Self.withAgentClient(server) { try await Self.attest($0, token: "no-such-token") }
        }
        #expect(error?.code == .permissionDenied)
        // SPI-01-007: a token shaped to steer the agent ID elsewhere is refused; no agent appears.
        for crafted in ["../../spire/server", "a/../b", "tok\u{0}en", "tökén"] {
            let refused = await #expect(throws: RPCError.self, "\(crafted.debugDescription) was accepted") {
                try await Self.withAgentClient(server) { try await Self.attest($0, token: crafted) }
            }
            #expect(refused?.code == .permissionDenied || refused?.code == .invalidArgument, "\(String(describing: refused))")
        }
        #expect(try await server.cli(["agent", "count", "-socketPath", server.socketPath]).stdout.contains("0 attested agents"))

        let generated = try await server.cli(["token", "generate", "-socketPath", server.socketPath])
        let token = Self.token(from: generated.stdout)
        let svid = try await Self.withAgentClient(server) { try await Self.attest($0, token: token) }
        let agentID = "spiffe://\(svid.id.trustDomain)\(svid.id.path)"
        #expect(try await server.cli(["agent", "ban", "-spiffeID", agentID, "-socketPath", server.socketPath]).status == 0)
        let shown = try await server.cli(["agent", "show", "-spiffeID", agentID, "-socketPath", server.socketPath]).stdout
        #expect(shown.contains("Banned"), "\(shown)")
    }

    @Test("agent calls: SVIDs only for authorized entries with the entry's ID (SPI-01-004); renewal retires the old serial; a banned agent is refused")
    func agentCalls() async throws {
        let server = try ServerProcess()
        try await server.start()
        let socket = ["-socketPath", server.socketPath]
        let token = Self.token(from: try await server.cli(["token", "generate", "-spiffeID", "spiffe://example.org/node-a"] + socket).stdout)
        let created = try await server.cli(["entry", "create", "-parentID", "spiffe://example.org/node-a", "-spiffeID",
                                      "spiffe://example.org/web", "-selector", "unix:uid:1000", "-output", "json"] + socket)
        let other = try await server.cli(["entry", "create", "-parentID", "spiffe://example.org/somewhere-else", "-spiffeID",
                                    "spiffe://example.org/db", "-selector", "unix:uid:1001", "-output", "json"] + socket)
        let webID = try #require(Self.entryID(created.stdout))
        let dbID = try #require(Self.entryID(other.stdout))

        let agentKey = try Self.csr()
        let svid = try await Self.withAgentClient(server) { try await Self.attest($0, token: token, csr: agentKey.der) }

        // A CSR naming another SPIFFE ID gets the entry's ID anyway; an entry outside the agent's
        // view gets an error and nothing signed.
        let issuedBefore = try await server.cli(["log", "export", "-dataDir", server.dataDir]).stdout.components(separatedBy: "X509SVIDIssued").count
        let results = try await Self.withSVIDClient(server, svid: svid.certChain[0], key: agentKey.key) { client in
            let svids = Spire_Api_Server_Svid_V1_SVID.Client(wrapping: client)
            var request = Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest()
            for entry in [webID, dbID] {
                var params = Spire_Api_Server_Svid_V1_NewX509SVIDParams()
                params.entryID = entry
                params.csr = Data(try Self.csr(uri: "spiffe://example.org/spire/server").der)
                request.params.append(params)
            }
            return try await svids.batchNewX509SVID(request).results
        }
        #expect(results.count == 2)
        #expect(results[0].status.code == 0, "\(results[0].status) web=\(webID)")
        let leaf = try Certificate(derEncoded: Array(results[0].svid.certChain[0]))
        let names = try #require(try leaf.extensions.subjectAlternativeNames)
        #expect(Array(names) == [.uniformResourceIdentifier("spiffe://example.org/web")])
        #expect(results[1].status.code == Int32(RPCError.Code.notFound.rawValue), "\(results[1].status)")
        #expect(results[1].svid.certChain.isEmpty)
        let issuedAfter = try await server.cli(["log", "export", "-dataDir", server.dataDir]).stdout.components(separatedBy: "X509SVIDIssued").count
        #expect(issuedAfter == issuedBefore + 1, "exactly one SVID signed")

        // Renewal: the new SVID becomes current on first use; the old serial is refused after.
        let renewedKey = try Self.csr()
        let renewed = try await Self.withSVIDClient(server, svid: svid.certChain[0], key: agentKey.key) { client in
            var request = Spire_Api_Server_Agent_V1_RenewAgentRequest()
            request.params.csr = Data(renewedKey.der)
            return try await Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client).renewAgent(request).svid
        }
        let bundle = { @Sendable (client: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Int in
            var request = Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest()
            var params = Spire_Api_Server_Svid_V1_NewX509SVIDParams()
            params.entryID = webID
            params.csr = Data(try Self.csr().der)
            request.params = [params]
            return try await Spire_Api_Server_Svid_V1_SVID.Client(wrapping: client).batchNewX509SVID(request).results.count
        }
        #expect(try await Self.withSVIDClient(server, svid: renewed.certChain[0], key: renewedKey.key, bundle) == 1)
        let stale = await #expect(throws: RPCError.self) {
            try await Self.withSVIDClient(server, svid: svid.certChain[0], key: agentKey.key, bundle)
        }
        #expect(stale?.code == .permissionDenied)

        // A banned agent can do nothing, and cannot attest again.
        let agentID = "spiffe://example.org\(svid.id.path)"
        #expect(try await server.cli(["agent", "ban", "-spiffeID", agentID] + socket).status == 0)
        let banned = await #expect(throws: RPCError.self) {
            try await Self.withSVIDClient(server, svid: renewed.certChain[0], key: renewedKey.key, bundle)
        }
        #expect(banned?.code == .permissionDenied)
    }

    /// The entry ID from `entry create -output json`.
    static func entryID(_ json: String) -> String? {
        guard let range = json.range(of: #""id": *"([^"]+)""#, options: .regularExpression) else { return nil }
        return json[range].split(separator: "\"").last.map(String.init)
    }

    @Test("attestation is limited to 1 per second per caller address (SPIRE's default); callers wait, not fail")
    func attestationRateLimit() async throws {
        let server = try ServerProcess()
        try await server.start()
        let clock = ContinuousClock()
        let started = clock.now
        let outcomes = try await Self.withAgentClient(server) { client in
            await withTaskGroup(of: RPCError.Code?.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        do { _ = try await Self.attest(client, token: "unknown-token"); return nil } catch { return (error as? RPCError)?.code }
                    }
                }
                return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
            }
        }
        // Three attempts from one address: the first at once, the others a second apart.
        #expect(clock.now - started >= .milliseconds(1_900))
        #expect(outcomes.allSatisfy { $0 == .permissionDenied }, "\(outcomes)")
    }
}
