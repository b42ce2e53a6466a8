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
        let bundle = try server.cli(["bundle", "show", "-socketPath", server.socketPath]).stdout
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: server.port),
            transportSecurity: .tls { config in
                config.trustRoots = .certificates([.bytes(Array(bundle.utf8), format: .pem)])
                config.serverCertificateVerification = .noHostnameVerification
            })
        return try await withGRPCClient(transport: transport) { client in try await body(client) }
    }

    static func attest(_ client: GRPCClient<HTTP2ClientTransport.Posix>, token: String) async throws -> Spire_Api_Types_X509SVID {
        let agent = Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client)
        var request = Spire_Api_Server_Agent_V1_AttestAgentRequest()
        var params = Spire_Api_Server_Agent_V1_AttestAgentRequest.Params()
        params.data.type = "join_token"
        params.data.payload = Data(token.utf8)
        params.params.csr = Data(try csr().der)
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
        let server = try ServerProcess()
        try await server.start()
        let generated = try server.cli(["token", "generate", "-socketPath", server.socketPath])
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
            try server.cli(["bundle", "show", "-socketPath", server.socketPath]).stdout
                .write(toFile: server.directory + "/bundle.pem", atomically: true, encoding: .utf8)
            let verify = try ServerProcess.run(
                "/usr/bin/openssl", ["verify", "-CAfile", server.directory + "/bundle.pem", server.directory + "/agent.pem"])
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
        let agents = try server.cli(["agent", "count", "-socketPath", server.socketPath])
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

        let generated = try server.cli(["token", "generate", "-socketPath", server.socketPath])
        let token = Self.token(from: generated.stdout)
        let svid = try await Self.withAgentClient(server) { try await Self.attest($0, token: token) }
        let agentID = "spiffe://\(svid.id.trustDomain)\(svid.id.path)"
        #expect(try server.cli(["agent", "ban", "-spiffeID", agentID, "-socketPath", server.socketPath]).status == 0)
        let shown = try server.cli(["agent", "show", "-spiffeID", agentID, "-socketPath", server.socketPath]).stdout
        #expect(shown.contains("Banned"), "\(shown)")
    }
}
