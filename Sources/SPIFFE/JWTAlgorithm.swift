import Crypto
import Foundation
import X509
import _CryptoExtras

/// The JWS algorithms a JWT-SVID may be signed with (JWT-SVID.md §3.1): RSASSA-PKCS1-v1_5,
/// ECDSA and RSASSA-PSS with SHA-2 (RFC 7518 §3). Anything else, including `none`, the HMAC
/// algorithms and `EdDSA`, MUST be rejected, so it has no case here.
public enum JWTAlgorithm: String, Hashable, Sendable, CaseIterable {
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case es512 = "ES512"
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"

    /// The `alg` header value.
    public var name: String { rawValue }

    var isRSA: Bool {
        switch self {
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512: true
        case .es256, .es384, .es512: false
        }
    }

    /// Verifies a JOSE signature (raw `r || s` for ECDSA, RFC 7518 §3.4) over `signingInput`.
    /// A key of the wrong type for the algorithm is `.algorithmKeyMismatch`; a signature that
    /// does not verify is `.signatureInvalid`.
    func verify(
        signature: [UInt8], signingInput: [UInt8], key: Certificate.PublicKey
    ) throws(SPIFFEError) {
        let valid: Bool
        switch self {
        case .es256:
            guard let key = P256.Signing.PublicKey(key) else { throw mismatch(key) }
            valid = (try? P256.Signing.ECDSASignature(rawRepresentation: signature))
                .map { key.isValidSignature($0, for: signingInput) } ?? false
        case .es384:
            guard let key = P384.Signing.PublicKey(key) else { throw mismatch(key) }
            valid = (try? P384.Signing.ECDSASignature(rawRepresentation: signature))
                .map { key.isValidSignature($0, for: signingInput) } ?? false
        case .es512:
            guard let key = P521.Signing.PublicKey(key) else { throw mismatch(key) }
            valid = (try? P521.Signing.ECDSASignature(rawRepresentation: signature))
                .map { key.isValidSignature($0, for: signingInput) } ?? false
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512:
            guard let key = _RSA.Signing.PublicKey(key) else { throw mismatch(key) }
            // Keys from PKIX DER bypass the JWK bound, so the DoS bound is checked here too.
            if key.keySizeInBits > Limits.rsaModulusBytesMax * 8 {
                throw SPIFFEError(.inputTooLarge, "RSA key is longer than \(Limits.rsaModulusBytesMax * 8) bits")
            }
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            let padding = rsaPadding
            valid = switch self {
            case .rs256, .ps256: key.isValidSignature(rsaSignature, for: SHA256.hash(data: signingInput), padding: padding)
            case .rs384, .ps384: key.isValidSignature(rsaSignature, for: SHA384.hash(data: signingInput), padding: padding)
            default: key.isValidSignature(rsaSignature, for: SHA512.hash(data: signingInput), padding: padding)
            }
        }
        if !valid { throw SPIFFEError(.signatureInvalid, "JWT signature does not verify with the \(name) key") }
    }

    var rsaPadding: _RSA.Signing.Padding {
        switch self {
        case .ps256, .ps384, .ps512: .PSS
        default: .insecurePKCS1v1_5
        }
    }

    private func mismatch(_ key: Certificate.PublicKey) -> SPIFFEError {
        SPIFFEError(.algorithmKeyMismatch, "JWT algorithm \(name) cannot be used with the bundle key for this kid")
    }
}
