import Crypto
import Testing
import X509
import _CryptoExtras

@testable import SPIFFE

@Suite struct JWKTests {
    typealias F = JWTFixtures

    static let keys: [(String, Certificate.PublicKey)] = [
        ("P-256", Certificate.PublicKey(JWTFixtures.p256.publicKey)),
        ("P-384", Certificate.PublicKey(JWTFixtures.p384.publicKey)),
        ("P-521", Certificate.PublicKey(JWTFixtures.p521.publicKey)),
        ("RSA", Certificate.PublicKey(JWTFixtures.rsa.publicKey)),
        ("Ed25519", Certificate.PublicKey(JWTFixtures.ed25519.publicKey)),
    ]

    @Test(arguments: 0..<5)
    func publicKeyRoundTrips(index: Int) throws {
        let (_, key) = Self.keys[index]
        let jwk = try JWK(publicKey: key, keyID: "k", use: JWK.jwtSVIDUse)
        let members = try jwk.jsonObject()
        let decoded = try JWK(jsonObject: members)
        #expect(decoded == jwk)
        #expect(decoded.publicKey == key)
        // And through bytes.
        let reparsed = try JSONValue(parsing: JSONValue.object(members).encoded, errorCode: .malformedKey)
        let object = try #require(reparsed.objectValue)
        #expect(try JWK(jsonObject: object) == jwk)
    }

    @Test(arguments: [("P-256", 32), ("P-384", 48), ("P-521", 66)])
    func ecCoordinatesArePaddedToTheFieldSize(curve: String, size: Int) throws {
        // Many keys, so some coordinate starts with a zero byte and would be short if unpadded.
        for _ in 0..<64 {
            let key: Certificate.PublicKey = switch curve {
            case "P-256": Certificate.PublicKey(P256.Signing.PrivateKey().publicKey)
            case "P-384": Certificate.PublicKey(P384.Signing.PrivateKey().publicKey)
            default: Certificate.PublicKey(P521.Signing.PrivateKey().publicKey)
            }
            let members = try JWK(publicKey: key).jsonObject()
            #expect(members["crv"] == .string(curve))
            for name in ["x", "y"] {
                let text = try #require(members[name]?.stringValue)
                let bytes = try #require(Base64.decode(text, alphabet: .url))
                #expect(bytes.count == size)
            }
        }
    }

    @Test func shortECCoordinateIsRejected() throws {
        var members = try JWK(publicKey: Self.keys[0].1).jsonObject()
        let text = try #require(members["x"]?.stringValue)
        let x = try #require(Base64.decode(text, alphabet: .url))
        members["x"] = .string(Base64.encode(x.dropFirst(), alphabet: .url))
        expectSPIFFEError(.malformedKey) { try JWK(jsonObject: members) }
    }

    @Test func pointNotOnTheCurveIsRejected() throws {
        var members = try JWK(publicKey: Self.keys[0].1).jsonObject()
        let text = try #require(members["y"]?.stringValue)
        var y = try #require(Base64.decode(text, alphabet: .url))
        y[31] ^= 0x01
        members["y"] = .string(Base64.encode(y, alphabet: .url))
        expectSPIFFEError(.malformedKey) { try JWK(jsonObject: members) }
    }

    @Test func shortRSAKeyIsRejected() throws {
        let weak = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024)).publicKey.getKeyPrimitives()
        let members: [String: JSONValue] = [
            "kty": .string("RSA"),
            "n": .string(Base64.encode(weak.modulus, alphabet: .url)),
            "e": .string(Base64.encode(weak.publicExponent, alphabet: .url)),
        ]
        expectSPIFFEError(.malformedKey) { try JWK(jsonObject: members) }
    }

    @Test(arguments: [
        ["kty": JSONValue.string("oct"), "k": .string("AAAA")],
        ["kty": .string("EC"), "crv": .string("secp256k1"), "x": .string("AA"), "y": .string("AA")],
        ["kty": .string("OKP"), "crv": .string("X25519"), "x": .string("AA")],
    ])
    func unsupportedKeyTypeIsReported(members: [String: JSONValue]) {
        expectSPIFFEError(.unsupportedKeyType) { try JWK(jsonObject: members) }
    }

    @Test(arguments: [
        [String: JSONValue](),
        ["kty": .number(JSONNumber(1))],
        ["kty": .string("EC"), "crv": .string("P-256")],
        ["kty": .string("RSA"), "n": .string("AQAB")],
    ])
    func missingMembersAreRejected(members: [String: JSONValue]) {
        expectSPIFFEError(.malformedKey) { try JWK(jsonObject: members) }
    }

    @Test func x5cMustHoldTheSameKey() throws {
        // go-jose checks that the JWK key matches its certificate; so do we.
        var members = try JWK(x509Authority: F.authority1).jsonObject()
        #expect(try JWK(jsonObject: members).certificates == [F.authority1])
        members["x5c"] = try JWK(x509Authority: F.authority2).jsonObject()["x5c"]
        expectSPIFFEError(.keyMismatch) { try JWK(jsonObject: members) }
        expectSPIFFEError(.keyMismatch) {
            try JWK(publicKey: F.authority1.publicKey, certificates: [F.authority2])
        }
    }

    @Test func x5cMustBeStandardBase64DER() throws {
        var members = try JWK(x509Authority: F.authority1).jsonObject()
        members["x5c"] = .array([.string("not base64!")])
        expectSPIFFEError(.malformedKey) { try JWK(jsonObject: members) }
        members["x5c"] = .array([.string("AAAA")])
        expectSPIFFEError(.malformedCertificate) { try JWK(jsonObject: members) }
    }
}
