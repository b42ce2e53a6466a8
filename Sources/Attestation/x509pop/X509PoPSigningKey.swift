import Crypto
import X509
import _CryptoExtras

/// The node's private key, as the agent uses it to answer x509pop challenges: the key kinds
/// SPIRE's x509pop signs with and the server verifies (ECDSA P-256/P-384, RSA).
public enum X509PoPSigningKey: Sendable {
    case p256(P256.Signing.PrivateKey)
    case p384(P384.Signing.PrivateKey)
    case rsa(_RSA.Signing.PrivateKey)

    /// PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM, the
    /// encodings SPIRE's agent accepts for `private_key_path`.
    public init(pemEncoded pem: String) throws(AttestationError) {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p256(key)
        } else if let key = try? P384.Signing.PrivateKey(pemRepresentation: pem) {
            self = .p384(key)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            guard key.keySizeInBits <= Limits.x509popRSAModulusBitsMax else {
                throw AttestationError(
                    .keyTooLarge, "RSA key has \(key.keySizeInBits) bits; at most \(Limits.x509popRSAModulusBitsMax) are accepted")
            }
            self = .rsa(key)
        } else {
            throw AttestationError(.unsupportedKey, "not a PEM ECDSA P-256/P-384 or RSA (2048–4096 bits) private key")
        }
    }

    public var publicKey: Certificate.PublicKey {
        switch self {
        case .p256(let key): Certificate.PublicKey(key.publicKey)
        case .p384(let key): Certificate.PublicKey(key.publicKey)
        case .rsa(let key): Certificate.PublicKey(key.publicKey)
        }
    }

    /// Signs the digest of the challenge's nonce and `nonce` (the agent's own, random,
    /// `Limits.x509popNonceBytes` long), as SPIRE's `CalculateResponse` does.
    public func respond(to challenge: X509PoPChallenge, nonce: [UInt8]) throws(AttestationError) -> X509PoPResponse {
        precondition(nonce.count == Limits.x509popNonceBytes)
        let digest = X509PoP.signedDigest(challengeNonce: challenge.nonce, responseNonce: nonce)
        do {
            switch (self, challenge.kind) {
            case (.p256(let key), .ecdsaSignature):
                return Self.ecdsaResponse(nonce: nonce, raw: Array(try key.signature(for: digest).rawRepresentation))
            case (.p384(let key), .ecdsaSignature):
                return Self.ecdsaResponse(nonce: nonce, raw: Array(try key.signature(for: digest).rawRepresentation))
            case (.rsa(let key), .rsaSignature):
                return X509PoPResponse(nonce: nonce, signature: .rsa(Array(try key.signature(for: digest, padding: .PSS).rawRepresentation)))
            default:
                throw AttestationError(.wrongResponseKind, "the server asked for \(challenge.kind.rawValue), which this key cannot give")
            }
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.badSignature, "signing the challenge failed: \(error)")
        }
    }

    private static func ecdsaResponse(nonce: [UInt8], raw: [UInt8]) -> X509PoPResponse {
        let half = raw.count / 2
        let minimal = { (bytes: ArraySlice<UInt8>) in Array(bytes.drop { $0 == 0 }) }
        return X509PoPResponse(nonce: nonce, signature: .ecdsa(r: minimal(raw[..<half]), s: minimal(raw[half...])))
    }
}
