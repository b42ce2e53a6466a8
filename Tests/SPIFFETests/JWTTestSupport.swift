import Crypto
import Foundation
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@testable import SPIFFE

/// Keys, certificates and token builders shared by the JWT and bundle tests.
enum JWTFixtures {
    static let trustDomain = try! TrustDomain("example.org")
    static let otherTrustDomain = try! TrustDomain("other.org")
    static let subject = try! SPIFFEID(parsing: "spiffe://example.org/ns/default/sa/web")
    /// A fixed validation time: 2026-01-01T00:00:00Z.
    static let now = Date(timeIntervalSince1970: 1_767_225_600)
    static let audience = "spiffe://example.org/backend"

    static let p256 = P256.Signing.PrivateKey()
    static let p384 = P384.Signing.PrivateKey()
    static let p521 = P521.Signing.PrivateKey()
    /// RSA key generation is slow, so one key serves every RSA test.
    static let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)
    static let ed25519 = Curve25519.Signing.PrivateKey()

    static func signer(_ algorithm: JWTAlgorithm) -> JWTSigningKey {
        switch algorithm {
        case .es256: JWTSigningKey(p256)
        case .es384: JWTSigningKey(p384)
        case .es512: JWTSigningKey(p521)
        default: try! JWTSigningKey(rsa, algorithm: algorithm)
        }
    }

    /// A bundle of `trustDomain` holding every fixture key, under the key ID `kid-<alg>`, and the
    /// P-256 key also under `kid-p256`.
    static var bundle: JWTBundle {
        var bundle = JWTBundle(trustDomain: trustDomain)
        for algorithm in JWTAlgorithm.allCases {
            try! bundle.addAuthority(keyID: "kid-\(algorithm.name)", publicKey: signer(algorithm).publicKey)
        }
        try! bundle.addAuthority(keyID: "kid-ed25519", publicKey: Certificate.PublicKey(ed25519.publicKey))
        return bundle
    }

    /// A self-signed CA certificate for `key`.
    static func certificate(_ key: P256.Signing.PrivateKey, name: String = "authority") -> Certificate {
        let subject = try! DistinguishedName { CommonName(name) }
        return try! Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now - 3600, notValidAfter: now + 86_400,
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(key))
    }

    static let authority1 = certificate(P256.Signing.PrivateKey(), name: "authority 1")
    static let authority2 = certificate(P256.Signing.PrivateKey(), name: "authority 2")

    /// The standard claims of a valid token: issued a minute before `now`, expiring in an hour.
    static func claims(audience: JSONValue = .array([.string(audience)])) -> [String: JSONValue] {
        [
            "sub": .string(subject.string), "aud": audience,
            "exp": .number(JSONNumber(Int64(now.timeIntervalSince1970) + 3600)),
            "iat": .number(JSONNumber(Int64(now.timeIntervalSince1970) - 60)),
        ]
    }

    static func header(_ algorithm: JWTAlgorithm = .es256, keyID: String? = "kid-ES256") -> [String: JSONValue] {
        var header: [String: JSONValue] = ["alg": .string(algorithm.name), "typ": .string("JWT")]
        if let keyID { header["kid"] = .string(keyID) }
        return header
    }

    static func b64(_ bytes: [UInt8]) -> String { Base64.encode(bytes, alphabet: .url) }

    /// Builds a compact token from arbitrary header and claims, signed by `signer` as-is (so a
    /// token that breaks one rule is otherwise perfectly valid).
    static func token(
        header: [String: JSONValue] = header(), claims: [String: JSONValue] = claims(),
        signer: some JWTSigner = signer(.es256)
    ) -> String {
        let input = b64(JSONValue.object(header).encoded) + "." + b64(JSONValue.object(claims).encoded)
        let signature = try! signer.signature(for: Array(input.utf8))
        return input + "." + b64(signature)
    }

    /// Validates `token` against `bundle` at `now` for `audience`.
    static func validate(
        _ token: String, bundles: some JWTBundleSource = bundle, audience: String = audience, at time: Date = now
    ) throws(SPIFFEError) -> JWTSVID {
        try JWTSVID(parsing: token, bundles: bundles, audience: audience, at: time)
    }
}

/// Asserts that `body` throws a `SPIFFEError` with exactly `code`.
func expectSPIFFEError<T>(
    _ code: SPIFFEError.Code, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> T
) {
    do {
        _ = try body()
        Issue.record("expected SPIFFEError \(code), but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as SPIFFEError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SPIFFEError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
