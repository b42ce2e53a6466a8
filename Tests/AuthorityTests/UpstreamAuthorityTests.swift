import Authority
import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import Testing
import X509

@Suite("UpstreamAuthority: SPIRE's disk plugin rules")
struct UpstreamAuthorityTests {
    static func pem(_ certificates: [Certificate]) throws -> String {
        try certificates.map { try $0.serializeAsPEM().pemString }.joined(separator: "\n")
    }

    static func pem(_ key: Certificate.PrivateKey) throws -> String { try key.serializeAsPEM().pemString }

    /// A root and an intermediate CA under it, both made by our own templates.
    static func rootAndIntermediate() throws -> (root: SigningAuthority, intermediate: SigningAuthority) {
        let root = try Fixtures.selfSignedAuthority(seed: 11)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var generator = SeededGenerator(seed: 12)
        let certificate = try CertificateTemplates.intermediateCA(
            trustDomain: try .init("example.org"), subject: .init(), publicKey: key.publicKey,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 3600, upstream: root)
        return (root, SigningAuthority(certificate: certificate, privateKey: key))
    }

    @Test("a self-signed root without a bundle file is its own bundle; CAs it signs carry no chain")
    func selfSignedRoot() throws {
        let root = try Fixtures.selfSignedAuthority(seed: 11)
        let upstream = try UpstreamAuthority(
            certificatesPEM: try Self.pem([root.certificate]), keyPEM: try Self.pem(root.privateKey), bundlePEM: nil, now: Fixtures.now)
        #expect(upstream.roots == [root.certificate])
        #expect(upstream.signer.chainAfterIssued.isEmpty)
    }

    @Test("an intermediate with its root as bundle: CAs it signs carry the intermediate")
    func intermediate() throws {
        let (root, intermediate) = try Self.rootAndIntermediate()
        let upstream = try UpstreamAuthority(
            certificatesPEM: try Self.pem([intermediate.certificate]), keyPEM: try Self.pem(intermediate.privateKey),
            bundlePEM: try Self.pem([root.certificate]), now: Fixtures.now + 60)
        #expect(upstream.roots == [root.certificate])
        #expect(upstream.signer.chainAfterIssued == [intermediate.certificate])
    }

    @Test("each broken rule is refused with its reason")
    func refusals() throws {
        let (root, intermediate) = try Self.rootAndIntermediate()
        let other = try Fixtures.selfSignedAuthority(seed: 13)
        let now = Fixtures.now + 60
        let cases: [(String, String, String?, Date, String)] = [
            (try Self.pem([root.certificate]), try Self.pem(intermediate.privateKey), nil, now, "does not match"),
            (try Self.pem([intermediate.certificate]), try Self.pem(intermediate.privateKey), nil, now, "self-signed root"),
            (try Self.pem([intermediate.certificate]), try Self.pem(intermediate.privateKey), try Self.pem([other.certificate]), now,
             "does not chain"),
            (try Self.pem([root.certificate]), try Self.pem(root.privateKey), nil, now + 10 * 86_400, "not valid now"),
            ("not a certificate", try Self.pem(root.privateKey), nil, now, "cert_file_path"),
            (try Self.pem([root.certificate]), "garbage", nil, now, "key_file_path"),
            (try Self.pem(Array(repeating: root.certificate, count: Limits.upstreamCertificatesMax + 1)), try Self.pem(root.privateKey),
             nil, now, "at most"),
        ]
        for (certificates, key, bundle, at, expected) in cases {
            #expect {
                try UpstreamAuthority(certificatesPEM: certificates, keyPEM: key, bundlePEM: bundle, now: at)
            } throws: { error in
                guard let error = error as? AuthorityError, error.code == .upstreamInvalid else { return false }
                return error.reason.contains(expected)
            }
        }
    }

    @Test("a leaf posing as the upstream CA is refused")
    func leafIsNotACA() throws {
        let root = try Fixtures.selfSignedAuthority(seed: 11)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var generator = SeededGenerator(seed: 14)
        let leaf = try CertificateTemplates.x509SVID(
            id: try .init(parsing: "spiffe://example.org/fake-ca"), publicKey: key.publicKey,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 600, authority: root)
        #expect {
            try UpstreamAuthority(
                certificatesPEM: try Self.pem([leaf]), keyPEM: try Self.pem(key), bundlePEM: try Self.pem([root.certificate]),
                now: Fixtures.now + 60)
        } throws: { error in
            (error as? AuthorityError)?.reason.contains("not a CA") == true
        }
    }
}
