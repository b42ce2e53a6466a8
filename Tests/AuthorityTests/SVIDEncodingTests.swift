@testable import Authority
import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import Testing
import X509
import _CryptoExtras

/// The direct SVID encoder against swift-certificates' builder: same inputs, same bytes.
@Suite("X509-SVIDs encoded directly are the builder's certificates")
struct SVIDEncodingTests {
    /// A self-signed CA valid at `now`, with `key`.
    static func authority(key: Certificate.PrivateKey, now: Date, ttl: TimeInterval, seed: UInt64) throws -> SigningAuthority {
        var generator = SeededGenerator(seed: seed)
        let certificate = try CertificateTemplates.selfSignedCA(
            trustDomain: try .init("example.org"), subject: .init(country: ["US"], organization: ["SPIFFE"], commonName: "Lineage CA"),
            privateKey: key, serialNumber: SerialNumbers.random(using: &generator), now: now, ttl: ttl)
        return SigningAuthority(certificate: certificate, privateKey: key)
    }

    static func randomLabel(_ generator: inout SeededGenerator) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
        let length = Int.random(in: 1...20, using: &generator)
        var label = String((0..<length).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
        if label.first == "-" { label.removeFirst(); label = "a" + label }
        if label.last == "-" { label = label.dropLast() + "z" }
        return label
    }

    static func randomDNSNames(_ generator: inout SeededGenerator) -> [String] {
        (0..<Int.random(in: 0...6, using: &generator)).map { _ in
            var labels = (0..<Int.random(in: 1...4, using: &generator)).map { _ in randomLabel(&generator) }
            if Bool.random(using: &generator) && labels.count > 1 { labels[0] = "*" }
            return labels.joined(separator: ".")
        }
    }

    /// Issues through both paths and compares everything but the (randomized) signature value.
    static func compare(
        authority: SigningAuthority, key: SubjectPublicKey, id: SPIFFEID, dnsNames: [String], serial: Certificate.SerialNumber,
        now: Date, ttl: TimeInterval
    ) throws {
        let signed = try CertificateTemplates.signedX509SVID(
            id: id, key: key, dnsNames: dnsNames, serialNumber: serial, now: now, ttl: ttl, authority: authority)
        let reference = try CertificateTemplates.referenceX509SVID(
            id: id, key: key, dnsNames: dnsNames, serialNumber: serial, now: now, ttl: ttl, authority: authority)
        let parsed = try Certificate(derEncoded: signed.der)
        #expect(parsed.tbsCertificateBytes == reference.tbsCertificateBytes, "TBS differs for \(dnsNames) at \(now) ttl \(ttl)")
        #expect(parsed == (try Certificate(derEncoded: derBytes(parsed))))
        #expect(parsed.signatureAlgorithm == reference.signatureAlgorithm)
        #expect(parsed.serialNumber == serial && signed.serialNumber == serial)
        #expect(signed.notValidBefore == reference.notValidBefore && signed.notValidAfter == reference.notValidAfter)
        #expect(authority.certificate.publicKey.isValidSignature(parsed.signature, for: parsed))
        // The outer structure too: re-serializing the parsed certificate gives the same bytes.
        var serializer = DER.Serializer()
        try serializer.serialize(parsed)
        #expect(serializer.serializedBytes == signed.der)
    }

    @Test("random DNS names, TTLs, times, serials and key types: same TBS as the builder", arguments: [
        "p256", "p384", "rsa",
    ])
    func randomized(_ authorityKind: String) throws {
        let authorityKey: Certificate.PrivateKey = switch authorityKind {
        case "p256": .init(P256.Signing.PrivateKey())
        case "p384": .init(P384.Signing.PrivateKey())
        default: .init(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        }
        let subjectKeys = [
            try SubjectPublicKey(Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)),
            try SubjectPublicKey(Certificate.PublicKey(P384.Signing.PrivateKey().publicKey)),
            try SubjectPublicKey(Certificate.PublicKey(P521.Signing.PrivateKey().publicKey)),
            try SubjectPublicKey(Certificate.PublicKey(try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey)),
        ]
        var generator = SeededGenerator(seed: 11)
        // Around now, and around the UTCTime → GeneralizedTime switch at 2050-01-01.
        for (base, caTTL) in [(Fixtures.now, 10.0 * 86_400), (Date(timeIntervalSince1970: 2_524_607_000), 40.0 * 86_400)] {
            let authority = try Self.authority(key: authorityKey, now: base, ttl: caTTL, seed: 2)
            #expect(authority.svidEncoding != nil)
            for _ in 0..<60 {
                let now = base + Double.random(in: 0..<(caTTL / 2), using: &generator)  // fractional seconds too
                let ttl = [1, 59.5, 3600, 86_400, caTTL * 2][Int.random(in: 0..<5, using: &generator)]
                let path = (0..<Int.random(in: 1...4, using: &generator)).map { _ in Self.randomLabel(&generator) }
                try Self.compare(
                    authority: authority, key: subjectKeys[Int.random(in: 0..<subjectKeys.count, using: &generator)],
                    id: try SPIFFEID(parsing: "spiffe://example.org/" + path.joined(separator: "/")),
                    dnsNames: Self.randomDNSNames(&generator), serial: SerialNumbers.random(using: &generator),
                    now: now, ttl: ttl)
            }
        }
    }

    @Test("long names take long-form lengths, and an intermediate authority's issuer name is its own subject")
    func longNamesAndIntermediate() throws {
        let upstream = try Self.authority(key: .init(P384.Signing.PrivateKey()), now: Fixtures.now, ttl: 86_400, seed: 4)
        let serverKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var generator = SeededGenerator(seed: 5)
        let intermediate = try CertificateTemplates.intermediateCA(
            trustDomain: try .init("example.org"), subject: .init(), publicKey: serverKey.publicKey,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 3600, upstream: upstream)
        let server = SigningAuthority(certificate: intermediate, upstreamChain: [], privateKey: serverKey)
        #expect(server.chainAfterIssuedDER == [try derBytes(intermediate)])
        let longLabel = String(repeating: "a", count: 63)
        let long = [longLabel, longLabel, longLabel, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(long.utf8.count == 253)
        try Self.compare(
            authority: server, key: try SubjectPublicKey(Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)),
            id: try SPIFFEID(parsing: "spiffe://example.org/" + String(repeating: "p", count: 300)),
            dnsNames: Array(repeating: long, count: 64), serial: SerialNumbers.random(using: &generator),
            now: Fixtures.now + 100, ttl: 600)
    }

    @Test("dates to the calendar as Foundation computes them")
    func civilDates() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        var generator = SeededGenerator(seed: 8)
        for _ in 0..<2000 {
            let seconds = Int64.random(in: -2_208_988_800...253_402_300_799, using: &generator)  // 1900 … 9999
            let parts = calendar.dateComponents(
                [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: TimeInterval(seconds)))
            let civil = SVIDEncoding.civil(seconds)
            let ours: [Int] = [civil.year, civil.month, civil.day, civil.hour, civil.minute, civil.second]
            let foundation: [Int] = [parts.year!, parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!]
            #expect(ours == foundation, "at \(seconds)")
        }
    }
}

/// The CSR fast path against the full parser.
@Suite("P-256 CSRs read directly")
struct P256CSRTests {
    static func csr(key: P256.Signing.PrivateKey, subject: DistinguishedName, attributes: CertificateSigningRequest.Attributes = .init()) throws -> [UInt8] {
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: .init(key), attributes: attributes, signatureAlgorithm: .ecdsaWithSHA256)
        return try derBytes(request)
    }

    @Test("the agents' CSRs (empty subject, C=US O=SPIRE, a CN) take the fast path and give the full parser's key")
    func agreesWithParser() throws {
        let subjects = [
            DistinguishedName(),
            try DistinguishedName { CountryName("US"); OrganizationName("SPIRE") },
            try DistinguishedName { CommonName("ignored") },
            try DistinguishedName { CountryName("US"); OrganizationName("Ünïcode Org"); CommonName(String(repeating: "x", count: 300)) },
        ]
        for subject in subjects {
            let key = P256.Signing.PrivateKey()
            let der = try Self.csr(key: key, subject: subject)
            let fast = try #require(P256CSR.verifiedKey(der), "\(subject)")
            let full = try SubjectPublicKey(try CSRValidator.publicKey(fromDER: der))
            #expect(fast.publicKey == full.publicKey)
            #expect(fast.subjectPublicKeyInfoDER == full.subjectPublicKeyInfoDER)
            #expect(fast.subjectKeyIdentifier == full.subjectKeyIdentifier)
            #expect(try CSRValidator.subjectPublicKey(fromDER: der).subjectPublicKeyInfoDER == full.subjectPublicKeyInfoDER)
        }
    }

    @Test("other shapes go to the full parser, which accepts or refuses them as before")
    func otherShapesFallBack() throws {
        // A SAN request (an attribute), P-384, RSA: not the fast path's shape, still accepted.
        let withSAN = try Fixtures.csr(key: .init(P256.Signing.PrivateKey()), sanURI: "spiffe://example.org/spire/server")
        #expect(P256CSR.verifiedKey(withSAN) == nil)
        let key = try CSRValidator.subjectPublicKey(fromDER: withSAN)
        #expect(key.subjectPublicKeyInfoDER == (try SubjectPublicKey(try CSRValidator.publicKey(fromDER: withSAN))).subjectPublicKeyInfoDER)
        let p384 = try Fixtures.csr(key: .init(P384.Signing.PrivateKey()))
        #expect(P256CSR.verifiedKey(p384) == nil)
        _ = try CSRValidator.subjectPublicKey(fromDER: p384)

        // A tampered signature: the fast path declines, the full parser refuses with today's error.
        var tampered = try Self.csr(key: P256.Signing.PrivateKey(), subject: DistinguishedName())
        tampered[tampered.count - 3] ^= 0x01
        #expect(P256CSR.verifiedKey(tampered) == nil)
        #expect(throws: AuthorityError.self) { try CSRValidator.subjectPublicKey(fromDER: tampered) }

        // Signed by one key, carrying another (SPI-01-004's CSR/key mismatch).
        let signer = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let good = try CertificateSigningRequest(derEncoded: try Self.csr(key: P256.Signing.PrivateKey(), subject: DistinguishedName()))
        let forged = try derBytes(CertificateSigningRequest(
            version: .v1, subject: good.subject, publicKey: signer.publicKey, attributes: good.attributes,
            signatureAlgorithm: good.signatureAlgorithm, signature: good.signature))
        #expect(P256CSR.verifiedKey(forged) == nil)
        #expect(throws: AuthorityError(.csrSignatureInvalid, "")) { try CSRValidator.subjectPublicKey(fromDER: forged) }

        // Trailing bytes, a truncated request, a non-minimal length: refused by both.
        let valid = try Self.csr(key: P256.Signing.PrivateKey(), subject: DistinguishedName())
        for bad in [valid + [0x00], Array(valid.dropLast()), [0x30, 0x81, 0x05, 1, 2, 3, 4, 5]] {
            #expect(P256CSR.verifiedKey(bad) == nil)
            #expect(throws: AuthorityError(.malformedCSR, "")) { try CSRValidator.subjectPublicKey(fromDER: bad) }
        }
        #expect(throws: AuthorityError(.keyNotAllowed, "")) {
            try CSRValidator.subjectPublicKey(fromDER: try Fixtures.csr(key: .init(Curve25519.Signing.PrivateKey())))
        }
        #expect(throws: AuthorityError(.malformedCSR, "")) {
            try CSRValidator.subjectPublicKey(fromDER: [UInt8](repeating: 0x30, count: Limits.csrBytesMax + 1))
        }
    }

    @Test("signatures read to r ‖ s as swift-crypto reads them; non-minimal or negative integers are refused")
    func signatureValues() throws {
        let key = P256.Signing.PrivateKey()
        for index in 0..<500 {
            let signature = try key.signature(for: [UInt8(truncatingIfNeeded: index)])
            #expect(P256CSR.rawSignature(Array(signature.derRepresentation)[...]) == Array(signature.rawRepresentation))
        }
        #expect(P256CSR.rawSignature([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01][...]) == [UInt8](repeating: 0, count: 31) + [1] + [UInt8](repeating: 0, count: 31) + [1])
        #expect(P256CSR.rawSignature([0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01][...]) == nil)  // non-minimal
        #expect(P256CSR.rawSignature([0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01][...]) == nil)  // negative
        #expect(P256CSR.rawSignature([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00][...]) == nil)  // trailing
        #expect(P256CSR.rawSignature(([0x30, 0x26, 0x02, 0x21, 0x01] + [UInt8](repeating: 0xFF, count: 32) + [0x02, 0x01, 0x01])[...]) == nil)
    }

    @Test("every single-byte corruption of a fast-path CSR is refused or yields the same key as the full parser")
    func corruptions() throws {
        let key = P256.Signing.PrivateKey()
        let valid = try Self.csr(key: key, subject: try DistinguishedName { CountryName("US"); OrganizationName("SPIRE") })
        let expected = try SubjectPublicKey(try CSRValidator.publicKey(fromDER: valid)).subjectPublicKeyInfoDER
        for position in valid.indices {
            for flip: UInt8 in [0x01, 0x80] {
                var bad = valid
                bad[position] ^= flip
                guard let fast = P256CSR.verifiedKey(bad) else { continue }
                // Accepted: the full parser must accept it too, with the same key.
                let full = try SubjectPublicKey(try CSRValidator.publicKey(fromDER: bad))
                #expect(fast.subjectPublicKeyInfoDER == full.subjectPublicKeyInfoDER && full.subjectPublicKeyInfoDER == expected,
                        "byte \(position) ^ \(flip)")
            }
        }
    }
}

func derBytes<Element: DERSerializable>(_ element: Element) throws -> [UInt8] {
    var serializer = DER.Serializer()
    try serializer.serialize(element)
    return serializer.serializedBytes
}
