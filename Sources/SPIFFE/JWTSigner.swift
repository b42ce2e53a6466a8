import Crypto
import X509
import _CryptoExtras

/// Signs JWT-SVIDs: the algorithm plus a function producing the JOSE-form signature. The
/// `Authority` module adapts its `KeySigner` to this; `JWTSigningKey` covers in-memory keys.
public protocol JWTSigner: Sendable {
    var algorithm: JWTAlgorithm { get }
    /// The JWS signature over `signingInput` (ASCII `header.payload`), in JOSE form: raw
    /// `r || s`, each padded to the field size, for ECDSA (RFC 7518 §3.4).
    func signature(for signingInput: [UInt8]) throws(SPIFFEError) -> [UInt8]
}

/// An in-memory private key that signs JWT-SVIDs. Signing uses swift-crypto's CSPRNG (ECDSA
/// nonces, PSS salts), the one source of randomness the pure module allows.
public struct JWTSigningKey: JWTSigner {
    private enum Backing: Sendable {
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    private let backing: Backing
    public let algorithm: JWTAlgorithm

    /// ES256.
    public init(_ key: P256.Signing.PrivateKey) {
        self.backing = .p256(key)
        self.algorithm = .es256
    }

    /// ES384.
    public init(_ key: P384.Signing.PrivateKey) {
        self.backing = .p384(key)
        self.algorithm = .es384
    }

    /// ES512 (ECDSA on P-521 with SHA-512).
    public init(_ key: P521.Signing.PrivateKey) {
        self.backing = .p521(key)
        self.algorithm = .es512
    }

    /// One of RS256/384/512 or PS256/384/512.
    public init(_ key: _RSA.Signing.PrivateKey, algorithm: JWTAlgorithm) throws(SPIFFEError) {
        guard algorithm.isRSA else {
            throw SPIFFEError(.algorithmKeyMismatch, "\(algorithm.name) cannot be used with an RSA key")
        }
        self.backing = .rsa(key)
        self.algorithm = algorithm
    }

    /// The public key, as it goes into a JWT bundle.
    public var publicKey: Certificate.PublicKey {
        switch backing {
        case .p256(let key): Certificate.PublicKey(key.publicKey)
        case .p384(let key): Certificate.PublicKey(key.publicKey)
        case .p521(let key): Certificate.PublicKey(key.publicKey)
        case .rsa(let key): Certificate.PublicKey(key.publicKey)
        }
    }

    public func signature(for signingInput: [UInt8]) throws(SPIFFEError) -> [UInt8] {
        do {
            switch backing {
            case .p256(let key): return Array(try key.signature(for: signingInput).rawRepresentation)
            case .p384(let key): return Array(try key.signature(for: signingInput).rawRepresentation)
            case .p521(let key): return Array(try key.signature(for: signingInput).rawRepresentation)
            case .rsa(let key):
                let padding = algorithm.rsaPadding
                let signature = switch algorithm {
                case .rs384, .ps384: try key.signature(for: SHA384.hash(data: signingInput), padding: padding)
                case .rs512, .ps512: try key.signature(for: SHA512.hash(data: signingInput), padding: padding)
                default: try key.signature(for: SHA256.hash(data: signingInput), padding: padding)
                }
                return Array(signature.rawRepresentation)
            }
        } catch {
            throw SPIFFEError(.signatureInvalid, "cannot sign JWT with \(algorithm.name): \(error)")
        }
    }
}
