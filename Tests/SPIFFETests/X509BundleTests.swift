import Foundation
import SPIFFE
import Testing
import X509

@Suite("X509Bundle: concatenated DER and PEM (SPIFFE-WIRE §1.1, §1.6)")
struct X509BundleTests {
    func authorities(_ count: Int) throws -> [Certificate] {
        try (0..<count).map { index in
            try TestPKI.root(.authority("example.org", name: "authority\(index)")).certificate
        }
    }

    @Test("Concatenated DER round-trips, keeping order", arguments: [1, 2, 3])
    func derRoundTrip(count: Int) throws {
        let bundle = X509Bundle(trustDomain: try TrustDomain("example.org"), authorities: try authorities(count))
        let decoded = try X509Bundle(trustDomain: bundle.trustDomain, derEncoded: bundle.derEncoded())
        #expect(decoded == bundle)
        #expect(decoded.authorities == bundle.authorities)
    }

    @Test("PEM round-trips, keeping order", arguments: [1, 2, 3])
    func pemRoundTrip(count: Int) throws {
        let bundle = X509Bundle(trustDomain: try TrustDomain("example.org"), authorities: try authorities(count))
        let pem = try bundle.pemEncoded()
        #expect(pem.components(separatedBy: "-----BEGIN CERTIFICATE-----").count == count + 1)
        #expect(try X509Bundle(trustDomain: bundle.trustDomain, pemEncoded: pem) == bundle)
    }

    @Test("An OpenSSL-made authority parses")
    func openSSL() throws {
        let bundle = try X509Bundle(trustDomain: TrustDomain("example.org"), pemEncoded: OpenSSLFixtures.rootCertificate)
        #expect(bundle.authorities.count == 1)
        #expect(try X509Bundle(trustDomain: bundle.trustDomain, derEncoded: bundle.derEncoded()) == bundle)
    }

    @Test("Duplicate authorities are kept once, in first-seen order")
    func dedup() throws {
        let list = try authorities(2)
        var bundle = X509Bundle(trustDomain: try TrustDomain("example.org"), authorities: [list[0], list[1], list[0]])
        #expect(bundle.authorities == list)
        bundle.add(list[1])
        #expect(bundle.authorities == list)
        let der = try CertificateCoding.der([list[0], list[0], list[1]])
        #expect(try X509Bundle(trustDomain: bundle.trustDomain, derEncoded: der).authorities == list)
        bundle.remove(list[0])
        #expect(bundle.authorities == [list[1]])
        #expect(!bundle.contains(list[0]))
    }

    @Test("A PEM block of another type is rejected")
    func wrongPEMType() throws {
        let key = try TestKeyKind.p256.makeKey().pemEncoded()
        expectX509Error(.malformedCertificate, reasonContains: "expected CERTIFICATE") {
            try X509Bundle(trustDomain: TrustDomain("example.org"), pemEncoded: OpenSSLFixtures.rootCertificate + "\n" + key)
        }
    }

    @Test("Garbage DER is rejected", arguments: [[0x01, 0x02], [0x30, 0x81], [0x30, 0x02, 0x05, 0x00]] as [[UInt8]])
    func garbageDER(bytes: [UInt8]) throws {
        expectX509Error(.malformedCertificate) { try X509Bundle(trustDomain: TrustDomain("example.org"), derEncoded: bytes) }
    }

    @Test("A bundle is a source for its own trust domain only")
    func source() throws {
        let bundle = X509Bundle(trustDomain: try TrustDomain("example.org"), authorities: try authorities(1))
        #expect(bundle.x509Bundle(for: try TrustDomain("example.org")) == bundle)
        #expect(bundle.x509Bundle(for: try TrustDomain("other.org")) == nil)
    }
}
