import Attestation
import Crypto
import Foundation
import SPIFFE
import Testing
import X509
import _CryptoExtras

@Suite("x509pop verifier")
struct X509PoPTests {
    static let trustDomain = try! TrustDomain("example.org")

    /// A root, an intermediate, and a P-256 leaf with a SAN selector URI.
    struct Fixture {
        let root: NodePKI.Authority
        let intermediate: NodePKI.Authority
        let key: X509PoPSigningKey
        let leaf: Certificate
        var verifier: X509PoPVerifier { X509PoPVerifier(trustDomain: X509PoPTests.trustDomain, authorities: [root.certificate]) }
        var payload: [UInt8] { NodePKI.payload([leaf, intermediate.certificate]) }

        /// The verified payload and a challenge for it.
        func challenged() async throws -> (X509PoPCandidate, X509PoPChallenge) {
            let candidate = try await verifier.verify(payload: payload, at: NodePKI.now)
            var random = CountingGenerator()
            return (candidate, candidate.challenge(using: &random))
        }

        init(key: X509PoPSigningKey = .p256(P256.Signing.PrivateKey()), digitalSignature: Bool = true,
             notValidAfter: Date = NodePKI.now + 3_600) throws {
            root = try NodePKI.root()
            intermediate = try NodePKI.intermediate("node-intermediate", issuer: root)
            self.key = key
            leaf = try NodePKI.leaf(
                publicKey: key.publicKey, issuer: intermediate, digitalSignature: digitalSignature,
                uris: ["x509pop://example.org/datacenter/eu-1", "x509pop://other.org/ignored/x", "spiffe://example.org/x"],
                notValidAfter: notValidAfter)
        }
    }

    static func nonce(_ byte: UInt8) -> [UInt8] { [UInt8](repeating: byte, count: 32) }

    /// Challenge → signed response → attestation, the way the server's stream runs it.
    static func attest(_ fixture: Fixture) async throws -> X509PoPAttestation {
        let (candidate, challenge) = try await fixture.challenged()
        let wireChallenge = try X509PoPChallenge(jsonEncoded: challenge.jsonEncoded())
        let response = try fixture.key.respond(to: wireChallenge, nonce: nonce(7))
        return try candidate.verify(response: response.jsonEncoded(), to: challenge)
    }

    @Test("agent ID is the leaf's SHA-1 fingerprint; selectors are SPIRE's, in its order")
    func identity() async throws {
        let fixture = try Fixture()
        let attested = try await Self.attest(fixture)
        let leafFingerprint = Insecure.SHA1.hash(data: NodePKI.der(fixture.leaf)).map { String(format: "%02x", $0) }.joined()
        let fingerprint = { (authority: NodePKI.Authority) in
            Insecure.SHA1.hash(data: authority.der).map { String(format: "%02x", $0) }.joined()
        }
        #expect(attested.agentID.string == "spiffe://example.org/spire/agent/x509pop/\(leafFingerprint)")
        #expect(attested.selectorValues == [
            "subject:cn:node-1",
            "ca:fingerprint:\(fingerprint(fixture.intermediate))",
            "ca:fingerprint:\(fingerprint(fixture.root))",
            "serialnumber:0abc",
            "san:datacenter:eu-1",
        ])
    }

    @Test("the fingerprint matches openssl's")
    func fingerprintMatchesOpenSSL() throws {
        let fixture = try Fixture()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("x509pop-\(UUID().uuidString).der").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(NodePKI.der(fixture.leaf)).write(to: URL(fileURLWithPath: path))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["x509", "-inform", "DER", "-in", path, "-noout", "-fingerprint", "-sha1"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let openssl = output.split(separator: "=").last.map { $0.replacingOccurrences(of: ":", with: "").lowercased() }
        #expect(openssl?.trimmingCharacters(in: .whitespacesAndNewlines) == X509PoPVerifier.fingerprint(NodePKI.der(fixture.leaf)))
    }

    @Test("P-384 and RSA leaves attest too", arguments: ["p384", "rsa2048", "rsa4096"])
    func otherKeys(kind: String) async throws {
        let key: X509PoPSigningKey = switch kind {
        case "p384": .p384(P384.Signing.PrivateKey())
        case "rsa2048": .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        default: .rsa(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
        let attested = try await Self.attest(try Fixture(key: key))
        #expect(attested.agentID.string.hasPrefix("spiffe://example.org/spire/agent/x509pop/"))
    }

    @Test("an RSA response signed as a SPIRE agent signs it (PSS, longest salt) verifies; a flipped bit does not")
    func rsaMaximumSaltInterop() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fixture = try Fixture(key: .rsa(rsa))
        let (candidate, challenge) = try await fixture.challenged()
        let responseNonce = Self.nonce(9)
        // openssl signs the digest with salt length "max", what Go's rsa.SignPSS(…, nil) does.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("x509pop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try rsa.pemRepresentation.write(toFile: directory + "/key.pem", atomically: true, encoding: .utf8)
        try Data(SHA256.hash(data: challenge.nonce + responseNonce)).write(to: URL(fileURLWithPath: directory + "/digest"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "pkeyutl", "-sign", "-inkey", directory + "/key.pem", "-in", directory + "/digest", "-out", directory + "/sig",
            "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:max",
        ]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let signature = Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/sig")))
        let response = X509PoPResponse(nonce: responseNonce, signature: .rsa(signature))
        #expect(throws: Never.self) { try candidate.verify(response: response.jsonEncoded(), to: challenge) }
        var flipped = signature
        flipped[100] ^= 0x01
        #expect(throws: AttestationError(.badSignature, "")) {
            try candidate.verify(response: X509PoPResponse(nonce: responseNonce, signature: .rsa(flipped)).jsonEncoded(), to: challenge)
        }
    }

    @Test("SPIRE's JSON shapes: base64 byte fields, snake_case kinds")
    func wireShapes() async throws {
        let challenge = X509PoPChallenge(kind: .ecdsaSignature, nonce: Self.nonce(1))
        let json = try JSONSerialization.jsonObject(with: Data(challenge.jsonEncoded())) as? [String: Any]
        #expect((json?["ecdsa_signature"] as? [String: Any])?["nonce"] as? String == Data(Self.nonce(1)).base64EncodedString())
        // A Go agent's response, byte for byte as encoding/json writes it.
        let goResponse = #"{"rsa_signature":null,"ecdsa_signature":{"nonce":"\#(Data(Self.nonce(2)).base64EncodedString())","r":"AQI=","s":"AwQ="}}"#
        let parsed = try X509PoPResponse(jsonEncoded: Array(goResponse.utf8))
        #expect(parsed == X509PoPResponse(nonce: Self.nonce(2), signature: .ecdsa(r: [1, 2], s: [3, 4])))
        let payload = #"{"certificates":["AQID"]}"#
        await #expect(throws: AttestationError(.malformedCertificate, "")) {
            try await X509PoPTests.verifyPayload(Array(payload.utf8))
        }
    }

    static func verifyPayload(_ payload: [UInt8], authorities: [Certificate]? = nil) async throws {
        let root = try NodePKI.root()
        _ = try await X509PoPVerifier(trustDomain: trustDomain, authorities: authorities ?? [root.certificate])
            .verify(payload: payload, at: NodePKI.now)
    }

    // MARK: - Rejections

    @Test("a chain to another CA is untrusted")
    func wrongCA() async throws {
        let fixture = try Fixture()
        let other = try NodePKI.root("other-ca")
        let verifier = X509PoPVerifier(trustDomain: Self.trustDomain, authorities: [other.certificate])
        await #expect(throws: AttestationError(.untrusted, "")) { try await verifier.verify(payload: fixture.payload, at: NodePKI.now) }
        // Without its intermediate the leaf does not reach the root either.
        await #expect(throws: AttestationError(.untrusted, "")) {
            try await fixture.verifier.verify(payload: NodePKI.payload([fixture.leaf]), at: NodePKI.now)
        }
    }

    @Test("an expired or not yet valid leaf is refused, named by position")
    func validity() async throws {
        let fixture = try Fixture(notValidAfter: NodePKI.now - 1)
        let expired = await #expect(throws: AttestationError(.certificateExpired, "")) {
            try await fixture.verifier.verify(payload: fixture.payload, at: NodePKI.now)
        }
        #expect(expired?.reason.hasPrefix("certificate 0 expired") == true, "\(String(describing: expired))")
        let valid = try Fixture()
        await #expect(throws: AttestationError(.certificateNotYetValid, "")) {
            try await valid.verifier.verify(payload: valid.payload, at: NodePKI.now - 120)
        }
    }

    @Test("a leaf without digitalSignature key usage is refused")
    func keyUsage() async throws {
        let fixture = try Fixture(digitalSignature: false)
        await #expect(throws: AttestationError(.notForDigitalSignature, "")) {
            try await fixture.verifier.verify(payload: fixture.payload, at: NodePKI.now)
        }
    }

    @Test("a response signed by another key is refused")
    func wrongKey() async throws {
        let fixture = try Fixture()
        let (candidate, challenge) = try await fixture.challenged()
        let impostor = X509PoPSigningKey.p256(P256.Signing.PrivateKey())
        let response = try impostor.respond(to: challenge, nonce: Self.nonce(3))
        #expect(throws: AttestationError(.badSignature, "")) { try candidate.verify(response: response.jsonEncoded(), to: challenge) }
    }

    @Test("a response to another challenge (an old nonce) is refused")
    func wrongNonce() async throws {
        let fixture = try Fixture()
        let candidate = try await fixture.verifier.verify(payload: fixture.payload, at: NodePKI.now)
        var random = CountingGenerator()
        let earlier = candidate.challenge(using: &random)
        let current = candidate.challenge(using: &random)
        #expect(earlier.nonce != current.nonce)
        let replayed = try fixture.key.respond(to: earlier, nonce: Self.nonce(4))
        #expect(throws: AttestationError(.badSignature, "")) { try candidate.verify(response: replayed.jsonEncoded(), to: current) }
        let short = X509PoPResponse(nonce: [1, 2, 3], signature: .ecdsa(r: [1], s: [1]))
        #expect(throws: AttestationError(.malformed, "")) { try candidate.verify(response: short.jsonEncoded(), to: current) }
        let rsaShaped = X509PoPResponse(nonce: Self.nonce(4), signature: .rsa([1]))
        #expect(throws: AttestationError(.wrongResponseKind, "")) { try candidate.verify(response: rsaShaped.jsonEncoded(), to: current) }
    }

    @Test("malformed payloads: not JSON, no certificate, oversized")
    func malformedPayloads() async throws {
        await #expect(throws: AttestationError(.malformed, "")) { try await Self.verifyPayload(Array("{".utf8)) }
        await #expect(throws: AttestationError(.noCertificate, "")) { try await Self.verifyPayload(Array(#"{"certificates":[]}"#.utf8)) }
        let oversized = Array(#"{"certificates":[""#.utf8) + [UInt8](repeating: UInt8(ascii: "A"), count: 140_000) + Array(#""]}"#.utf8)
        await #expect(throws: AttestationError(.tooLarge, "")) { try await Self.verifyPayload(oversized) }
    }

    @Test("a chain deeper than the leaf and four intermediates is refused, though it would verify")
    func tooManyCertificates() async throws {
        let root = try NodePKI.root()
        var issuers = [root]
        for level in 1...5 { issuers.append(try NodePKI.intermediate("level-\(level)", issuer: issuers[level - 1])) }
        let key = P256.Signing.PrivateKey()
        let leaf = try NodePKI.leaf(publicKey: .init(key.publicKey), issuer: issuers[5])
        let verifier = X509PoPVerifier(trustDomain: Self.trustDomain, authorities: [root.certificate])
        let chain = [leaf] + issuers.dropFirst().reversed().map(\.certificate)
        #expect(chain.count == 6)
        await #expect(throws: AttestationError(.tooManyCertificates, "")) {
            try await verifier.verify(payload: NodePKI.payload(chain), at: NodePKI.now)
        }
        // One level less is within the bound and verifies.
        let shallowLeaf = try NodePKI.leaf(publicKey: .init(key.publicKey), issuer: issuers[4])
        _ = try await verifier.verify(
            payload: NodePKI.payload([shallowLeaf] + issuers[1...4].reversed().map(\.certificate)), at: NodePKI.now)
    }

    @Test("a certificate over the per-certificate size bound is refused, though it would verify")
    func oversizedCertificate() async throws {
        let root = try NodePKI.root()
        let key = P256.Signing.PrivateKey()
        let names = (0..<700).map { "node-\($0).some-long-datacenter-name.example.org" }
        let leaf = try NodePKI.leaf(publicKey: .init(key.publicKey), issuer: root, dnsNames: names)
        #expect(NodePKI.der(leaf).count > Limits.x509popCertificateBytesMax)
        await #expect(throws: AttestationError(.tooLarge, "")) {
            try await Self.verifyPayload(NodePKI.payload([leaf]), authorities: [root.certificate])
        }
    }

    @Test("RSA keys over 4096 bits (16384, 8192) are refused by name before any signature is checked, in well under 50 ms",
          arguments: [16_384, 8_192])
    func hugeRSAKey(bits: Int) async throws {
        let root = try NodePKI.root()
        let verifier = X509PoPVerifier(trustDomain: Self.trustDomain, authorities: [root.certificate])
        let p256 = P256.Signing.PrivateKey()
        let leaf = try NodePKI.leaf(publicKey: .init(p256.publicKey), issuer: root)
        let hugeLeaf = try NodePKI.withRSAKey(bits: bits, leaf)
        let payload = X509PoP.attestationPayload(chainDER: [hugeLeaf])
        let clock = ContinuousClock()
        let started = clock.now
        let error = await #expect(throws: AttestationError(.keyTooLarge, "")) { try await verifier.verify(payload: payload, at: NodePKI.now) }
        #expect(clock.now - started < .milliseconds(50))
        #expect(error?.reason.contains("certificate 0 has a \(bits)-bit RSA key") == true, "\(String(describing: error))")
        // The same for an intermediate, which would otherwise verify the leaf's signature.
        let intermediate = try NodePKI.intermediate("huge", issuer: root)
        let underIt = try NodePKI.leaf(publicKey: .init(p256.publicKey), issuer: intermediate)
        let chain = [NodePKI.der(underIt), try NodePKI.withRSAKey(bits: bits, intermediate.certificate)]
        let intermediateError = await #expect(throws: AttestationError(.keyTooLarge, "")) {
            try await verifier.verify(payload: X509PoP.attestationPayload(chainDER: chain), at: NodePKI.now)
        }
        #expect(intermediateError?.reason.hasPrefix("certificate 1 ") == true, "\(String(describing: intermediateError))")
    }

    @Test("keys outside ECDSA P-256/P-384 and RSA are refused up front")
    func unsupportedCurve() async throws {
        let root = try NodePKI.root()
        let leaf = try NodePKI.leaf(publicKey: .init(P521.Signing.PrivateKey().publicKey), issuer: root)
        await #expect(throws: AttestationError(.unsupportedKey, "")) {
            try await Self.verifyPayload(NodePKI.payload([leaf]), authorities: [root.certificate])
        }
    }
}
