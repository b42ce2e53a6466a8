import Crypto
import SPIFFE
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite("SVIDPrivateKey: PKCS#8 parse and marshal (SPIFFE-WIRE §1.1, §1.6)")
struct SVIDPrivateKeyTests {
    @Test("DER and PEM round-trips give back an equal key", arguments: TestKeyKind.allCases)
    func roundTrip(kind: TestKeyKind) throws {
        let key = try kind.makeKey()
        let fromDER = try SVIDPrivateKey(derEncoded: key.derEncoded())
        let fromPEM = try SVIDPrivateKey(parsing: key.pemEncoded())
        #expect(fromDER == key)
        #expect(fromPEM == key)
        #expect(fromDER.algorithm == key.algorithm)
        #expect(fromPEM.publicKey == key.publicKey)
        #expect(key.pemEncoded().hasPrefix("-----BEGIN PRIVATE KEY-----\n"))
    }

    @Test("A P-521 key round-trips too")
    func p521() throws {
        let key = SVIDPrivateKey(P521.Signing.PrivateKey())
        #expect(try SVIDPrivateKey(derEncoded: key.derEncoded()) == key)
        #expect(key.algorithm == .ecdsaP521)
    }

    @Test("Distinct keys are not equal")
    func distinctKeys() throws {
        #expect(try TestKeyKind.p256.makeKey() != TestKeyKind.p256.makeKey())
    }

    @Test("OpenSSL's PKCS#8 keys parse to the public keys OpenSSL derives")
    func openSSLKeys() throws {
        let cases: [(String, String, SVIDPrivateKey.Algorithm)] = [
            (OpenSSLFixtures.p384Key, OpenSSLFixtures.p384PublicKey, .ecdsaP384),
            (OpenSSLFixtures.ed25519Key, OpenSSLFixtures.ed25519PublicKey, .ed25519),
            (OpenSSLFixtures.rsaKey, OpenSSLFixtures.rsaPublicKey, .rsa(bits: 2048)),
        ]
        for (privatePEM, publicPEM, algorithm) in cases {
            let key = try SVIDPrivateKey(parsing: privatePEM)
            #expect(key.algorithm == algorithm)
            #expect(key.publicKey == (try Certificate.PublicKey(pemEncoded: publicPEM)))
            // Re-marshalled and re-parsed, it is still the same key.
            #expect(try SVIDPrivateKey(derEncoded: key.derEncoded()) == key)
        }
    }

    @Test("An OpenSSL key matches its OpenSSL certificate and no other")
    func matches() throws {
        let key = try SVIDPrivateKey(parsing: OpenSSLFixtures.leafKey)
        #expect(key.matches(try Certificate(pemEncoded: OpenSSLFixtures.leafCertificate)))
        #expect(!key.matches(try Certificate(pemEncoded: OpenSSLFixtures.rootCertificate)))
    }

    @Test("The description shows the algorithm, never key material")
    func description() throws {
        let key = try TestKeyKind.p256.makeKey()
        #expect(key.description == "SVIDPrivateKey(ECDSA P-256)")
    }

    // MARK: - Rejections

    @Test("SEC1 `EC PRIVATE KEY` is rejected: SVID keys are PKCS#8")
    func sec1Rejected() {
        expectX509Error(.malformedKey, reasonContains: "EC PRIVATE KEY") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.leafKeySEC1)
        }
    }

    @Test("PKCS#1 `RSA PRIVATE KEY` is rejected: SVID keys are PKCS#8")
    func pkcs1Rejected() {
        expectX509Error(.malformedKey, reasonContains: "RSA PRIVATE KEY") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.rsaKeyPKCS1)
        }
    }

    @Test("A PEM block of the wrong type is rejected")
    func wrongPEMType() {
        expectX509Error(.malformedKey, reasonContains: "expected PRIVATE KEY") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.leafCertificate)
        }
    }

    @Test("Two PEM blocks are rejected: a key is one block")
    func twoBlocks() {
        expectX509Error(.malformedKey, reasonContains: "exactly one PEM block") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.leafKey + "\n" + OpenSSLFixtures.p384Key)
        }
    }

    @Test("Text that is not PEM is rejected")
    func notPEM() {
        expectX509Error(.malformedKey) { try SVIDPrivateKey(parsing: "not a key") }
    }

    @Test("X25519 is a PKCS#8 key of an algorithm that cannot sign")
    func unsupportedAlgorithm() {
        expectX509Error(.unsupportedAlgorithm, reasonContains: "1.3.101.110") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.x25519Key)
        }
    }

    @Test(
        "Garbage and truncated DER are rejected",
        arguments: [
            [UInt8](),
            [0xde, 0xad, 0xbe, 0xef],
            [0x30, 0x03, 0x02, 0x01, 0x00],
            [0x30, 0x03, 0x02, 0x01, 0x07],
        ])
    func garbage(der: [UInt8]) {
        expectX509Error(.malformedKey) { try SVIDPrivateKey(derEncoded: der) }
    }

    @Test("A truncated PKCS#8 key is rejected", arguments: TestKeyKind.allCases)
    func truncated(kind: TestKeyKind) throws {
        let der = try kind.makeKey().derEncoded()
        expectX509Error(.malformedKey) { try SVIDPrivateKey(derEncoded: Array(der.dropLast())) }
    }

    @Test("An EC key whose curve parameter names another curve is rejected")
    func curveMismatch() throws {
        let p256 = SVIDPrivateKey(P256.Signing.PrivateKey()).derEncoded()
        let lying = try Self.repackEC(p256, curve: ASN1ObjectIdentifier.NamedCurves.secp384r1)
        expectX509Error(.malformedKey) { try SVIDPrivateKey(derEncoded: lying) }
        // The repacking itself is sound: with the true curve the key parses.
        let honest = try Self.repackEC(p256, curve: ASN1ObjectIdentifier.NamedCurves.secp256r1)
        #expect(try SVIDPrivateKey(derEncoded: honest) == SVIDPrivateKey(derEncoded: p256))
    }

    @Test("An EC key without a named curve is rejected")
    func curveMissing() throws {
        let p256 = SVIDPrivateKey(P256.Signing.PrivateKey()).derEncoded()
        let bare = try Self.repackEC(p256, curve: nil)
        expectX509Error(.malformedKey, reasonContains: "no named curve") { try SVIDPrivateKey(derEncoded: bare) }
    }

    /// Re-wraps the inner ECPrivateKey of a PKCS#8 document under a chosen curve parameter.
    static func repackEC(_ der: [UInt8], curve: ASN1ObjectIdentifier?) throws -> [UInt8] {
        let root = try DER.parse(der)
        guard case .constructed(let nodes) = root.content else { throw ASN1Error.unexpectedFieldType(root.identifier) }
        let inner = try ASN1OctetString(derEncoded: Array(nodes)[2])
        var serializer = DER.Serializer()
        try serializer.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(0)
            try coder.appendConstructedNode(identifier: .sequence) { coder in
                try coder.serialize(ASN1ObjectIdentifier.AlgorithmIdentifier.idEcPublicKey)
                if let curve { try coder.serialize(curve) }
            }
            try coder.serialize(inner)
        }
        return serializer.serializedBytes
    }

    @Test("An input larger than the bound is refused before decoding")
    func tooLarge() {
        expectX509Error(.inputTooLarge) {
            try SVIDPrivateKey(derEncoded: [UInt8](repeating: 0x30, count: Limits.privateKeyBytesMax + 1))
        }
    }

    @Test("RSA above BoringSSL's 8192-bit ceiling is rejected")
    func largeRSA() {
        expectX509Error(.malformedKey, reasonContains: "1.2.840.113549.1.1.1") {
            try SVIDPrivateKey(parsing: OpenSSLFixtures.rsaKeyTooLarge)
        }
    }

    @Test("RSA below swift-crypto's 2048-bit floor is rejected")
    func smallRSA() throws {
        let small = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        expectX509Error(.malformedKey) { try SVIDPrivateKey(derEncoded: Array(small.pkcs8DERRepresentation)) }
    }
}
