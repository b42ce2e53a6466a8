import Foundation
import SPIFFE
import SwiftASN1
import Testing
import X509

@Suite("X509SVID parsing: go-spiffe x509svid.ParseRaw rules (SPIFFE-WIRE §1.6, §2.2)")
struct X509SVIDTests {
    // MARK: - Accepted

    @Test("A leaf under a root, or under 1 or 2 intermediates, parses from DER and PEM",
        arguments: [0, 1, 2], SVIDEncoding.allCases)
    func parses(intermediates: Int, encoding: SVIDEncoding) throws {
        let chain = try TestChain.make(intermediates: intermediates)
        let svid = try encoding.parse(chain)
        #expect(svid.id == (try SPIFFEID(parsing: "spiffe://example.org/workload")))
        #expect(svid.certificates == chain.certificates)
        #expect(svid.certificates.count == intermediates + 1)
        #expect(svid.leaf == chain.leaf.certificate)
        #expect(svid.privateKey == chain.leaf.key)
        #expect(svid.expiresAt == chain.leaf.certificate.notValidAfter)
        #expect(svid.hint == nil)
    }

    @Test("Every key kind round-trips through DER and PEM", arguments: TestKeyKind.allCases)
    func keyKinds(kind: TestKeyKind) throws {
        let chain = try TestChain.make(
            intermediates: 1, rootOptions: { $0.keyKind = kind },
            intermediate: { _, options in options.keyKind = kind }, leaf: { $0.keyKind = kind })
        let svid = try X509SVID(certificates: chain.certificates, privateKey: chain.leaf.key, hint: "internal")

        let der = try svid.derEncoded()
        let fromDER = try X509SVID(derEncoded: der.certificates, privateKey: der.privateKey, hint: "internal")
        #expect(fromDER == svid)
        #expect(der.privateKey == chain.leaf.key.derEncoded())

        let pem = try svid.pemEncoded()
        let fromPEM = try X509SVID(parsing: pem.certificates, privateKey: pem.privateKey, hint: "internal")
        #expect(fromPEM == svid)
        #expect(fromPEM.hint == "internal")
        #expect(pem.certificates.components(separatedBy: "-----BEGIN CERTIFICATE-----").count == 3)
        #expect(pem.privateKey.hasPrefix("-----BEGIN PRIVATE KEY-----"))
    }

    @Test("An SVID made by OpenSSL (empty subject, critical SAN) parses")
    func openSSL() throws {
        let svid = try X509SVID(parsing: OpenSSLFixtures.leafCertificate, privateKey: OpenSSLFixtures.leafKey)
        #expect(svid.id.string == "spiffe://example.org/openssl")
        #expect(svid.privateKey.algorithm == .ecdsaP256)
    }

    @Test("A chain of exactly the limit parses; one more is refused")
    func chainLengthBoundary() throws {
        let atLimit = try TestChain.make(intermediates: Limits.certificatesPerChainMax - 1)
        #expect(try X509SVID(certificates: atLimit.certificates, privateKey: atLimit.leaf.key).certificates.count
            == Limits.certificatesPerChainMax)

        let overLimit = try TestChain.make(intermediates: Limits.certificatesPerChainMax)
        for encoding in SVIDEncoding.allCases {
            expectX509Error(.inputTooLarge, reasonContains: "more than \(Limits.certificatesPerChainMax)") {
                try encoding.parse(overLimit)
            }
        }
    }

    // MARK: - Rejected: one broken rule per case

    @Test("Each broken X509-SVID rule is rejected with its own code and reason",
        arguments: ChainBreakage.allCases, SVIDEncoding.allCases)
    func brokenRule(breakage: ChainBreakage, encoding: SVIDEncoding) throws {
        let chain = try breakage.makeChain()
        expectX509Error(breakage.expectedCode, reasonContains: breakage.expectedReason) {
            try encoding.parse(chain)
        }
    }

    @Test("A key that does not match the leaf is rejected", arguments: SVIDEncoding.allCases)
    func keyMismatch(encoding: SVIDEncoding) throws {
        var chain = try TestChain.make()
        chain.leaf.key = try TestKeyKind.p256.makeKey()
        expectX509Error(.keyMismatch, reasonContains: "certificate 0 (leaf)") { try encoding.parse(chain) }
    }

    @Test("The intermediate's key is not the leaf's key")
    func intermediateKeyMismatch() throws {
        let chain = try TestChain.make(intermediates: 1)
        expectX509Error(.keyMismatch) {
            try X509SVID(certificates: chain.certificates, privateKey: chain.intermediates[0].key)
        }
    }

    @Test("An empty chain is rejected")
    func emptyChain() throws {
        let key = try TestKeyKind.p256.makeKey()
        expectX509Error(.malformedCertificate, reasonContains: "no certificates") {
            try X509SVID(certificates: [], privateKey: key)
        }
        expectX509Error(.malformedCertificate, reasonContains: "no certificates") {
            try X509SVID(derEncoded: [], privateKey: key.derEncoded())
        }
    }

    @Test("Garbage DER certificates are rejected",
        arguments: [[0xde, 0xad, 0xbe, 0xef], [0x30, 0x03, 0x02, 0x01, 0x00], [0x30, 0x82, 0x10]] as [[UInt8]])
    func garbageCertificateDER(bytes: [UInt8]) throws {
        let key = try TestKeyKind.p256.makeKey()
        expectX509Error(.malformedCertificate) { try X509SVID(derEncoded: bytes, privateKey: key.derEncoded()) }
    }

    @Test("A valid leaf followed by trailing garbage is rejected")
    func trailingGarbage() throws {
        let (certificates, privateKey) = try TestChain.make().derEncoded()
        expectX509Error(.malformedCertificate, reasonContains: "certificate 1") {
            try X509SVID(derEncoded: certificates + [0x30, 0x05, 0x01], privateKey: privateKey)
        }
    }

    @Test("A garbage DER key is rejected")
    func garbageKeyDER() throws {
        let (certificates, _) = try TestChain.make().derEncoded()
        expectX509Error(.malformedKey) { try X509SVID(derEncoded: certificates, privateKey: [0x30, 0x00]) }
    }

    @Test("Text that is not PEM is rejected")
    func garbagePEM() throws {
        let chain = try TestChain.make()
        expectX509Error(.malformedCertificate) {
            try X509SVID(parsing: "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
                privateKey: chain.leaf.key.pemEncoded())
        }
        expectX509Error(.malformedCertificate, reasonContains: "no certificates") {
            try X509SVID(parsing: "hello", privateKey: chain.leaf.key.pemEncoded())
        }
    }

    @Test("PEM blocks of the wrong type are rejected in either slot")
    func wrongPEMBlockType() throws {
        let chain = try TestChain.make()
        let certificates = try CertificateCoding.pem(chain.certificates)
        let key = chain.leaf.key.pemEncoded()
        expectX509Error(.malformedCertificate, reasonContains: "expected CERTIFICATE") {
            try X509SVID(parsing: key, privateKey: key)
        }
        expectX509Error(.malformedKey, reasonContains: "expected PRIVATE KEY") {
            try X509SVID(parsing: certificates, privateKey: certificates)
        }
        expectX509Error(.malformedKey, reasonContains: "EC PRIVATE KEY") {
            try X509SVID(parsing: OpenSSLFixtures.leafCertificate, privateKey: OpenSSLFixtures.leafKeySEC1)
        }
    }

    // MARK: - load(from:)

    @Test("load reads a PEM chain and key from files; a missing file is reported")
    func load() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("x509svid-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificatesPath = directory.appendingPathComponent("svid.pem").path
        let keyPath = directory.appendingPathComponent("svid.key").path
        try OpenSSLFixtures.leafCertificate.write(toFile: certificatesPath, atomically: true, encoding: .utf8)
        try OpenSSLFixtures.leafKey.write(toFile: keyPath, atomically: true, encoding: .utf8)

        let svid = try X509SVID.load(certificatesPath: certificatesPath, privateKeyPath: keyPath)
        #expect(svid.id.string == "spiffe://example.org/openssl")

        expectX509Error(.fileUnreadable) {
            try X509SVID.load(certificatesPath: certificatesPath, privateKeyPath: keyPath + ".missing")
        }
    }
}
