import Crypto
import Foundation
import X509
import _CryptoExtras

/// A JSON Web Key holding a public key (RFC 7517), as SPIFFE bundles and JWKS documents carry
/// them (SPIFFE_Trust_Domain_and_Bundle.md §4).
///
/// Supported key types: `EC` on P-256, P-384 and P-521 (RFC 7518 §6.2), `RSA` of at least 2048
/// bits (§6.3), and `OKP` Ed25519 (RFC 8037). EC coordinates are encoded padded to the field
/// size and must have exactly that size when decoded, as go-jose requires.
///
/// When `x5c` is present its first certificate must hold the same public key as the JWK
/// members; go-jose checks this and so do we, because a bundle consumer may trust either one.
public struct JWK: Hashable, Sendable {
    /// The JWK `use` of an X.509 authority in a SPIFFE bundle.
    public static let x509SVIDUse = "x509-svid"
    /// The JWK `use` of a JWT authority in a SPIFFE bundle.
    public static let jwtSVIDUse = "jwt-svid"
    /// The JWK `use` of a WIT-SVID authority (go-spiffe/SPIRE); recognised and then ignored.
    public static let witSVIDUse = "wit-svid"

    public let publicKey: Certificate.PublicKey
    /// `kid`, when present. An empty string is kept as given; callers that require a key ID
    /// check for emptiness themselves.
    public let keyID: String?
    /// `use`, when present.
    public let use: String?
    /// `x5c`: the certificate chain whose first element holds `publicKey`.
    public let certificates: [Certificate]

    /// Builds a JWK, checking that the first certificate (if any) holds `publicKey`.
    public init(
        publicKey: Certificate.PublicKey, keyID: String? = nil, use: String? = nil,
        certificates: [Certificate] = []
    ) throws(SPIFFEError) {
        if let first = certificates.first, first.publicKey != publicKey {
            throw SPIFFEError(.keyMismatch, "JWK public key does not match its x5c certificate")
        }
        self.publicKey = publicKey
        self.keyID = keyID
        self.use = use
        self.certificates = certificates
    }

    /// A JWK for an X.509 authority: the certificate's key, `use` = `x509-svid`, one `x5c`.
    public init(x509Authority certificate: Certificate) {
        self.publicKey = certificate.publicKey
        self.keyID = nil
        self.use = Self.x509SVIDUse
        self.certificates = [certificate]
    }

    /// Decodes a JWK object. An unsupported `kty` or `crv` is `.unsupportedKeyType`, so bundle
    /// parsers can ignore such keys as the SPIFFE bundle spec requires; bad key material is
    /// `.malformedKey`; an `x5c` that disagrees with the key is `.keyMismatch`.
    public init(jsonObject members: [String: JSONValue]) throws(SPIFFEError) {
        guard let type = members["kty"]?.stringValue else {
            throw SPIFFEError(.malformedKey, "JWK has no string \"kty\"")
        }
        let key: Certificate.PublicKey
        switch type {
        case "EC": key = try Self.decodeEC(members)
        case "RSA": key = try Self.decodeRSA(members)
        case "OKP": key = try Self.decodeOKP(members)
        default: throw SPIFFEError(.unsupportedKeyType, "JWK key type \"\(type.prefix(32))\" is not supported")
        }
        let keyID = try Self.optionalString(members, "kid")
        let use = try Self.optionalString(members, "use")
        var certificates: [Certificate] = []
        if let x5c = members["x5c"] {
            guard let elements = x5c.arrayValue else { throw SPIFFEError(.malformedKey, "JWK \"x5c\" is not an array") }
            if elements.count > Limits.certificatesPerChainMax {
                throw SPIFFEError(.inputTooLarge, "JWK \"x5c\" has more than \(Limits.certificatesPerChainMax) certificates")
            }
            for (index, element) in elements.enumerated() {
                guard let text = element.stringValue, let der = Base64.decode(text, alphabet: .standard) else {
                    throw SPIFFEError(.malformedKey, "JWK \"x5c\" element \(index) is not base64")
                }
                certificates.append(try CertificateCoding.certificate(der: der, position: index))
            }
        }
        try self.init(publicKey: key, keyID: keyID, use: use, certificates: certificates)
    }

    /// The JSON members of this JWK. Absent optional members are omitted.
    public func jsonObject() throws(SPIFFEError) -> [String: JSONValue] {
        var members = try Self.encode(publicKey)
        if let keyID { members["kid"] = .string(keyID) }
        if let use { members["use"] = .string(use) }
        if !certificates.isEmpty {
            var elements: [JSONValue] = []
            for certificate in certificates {
                elements.append(.string(Base64.encode(try CertificateCoding.der(certificate), alphabet: .standard)))
            }
            members["x5c"] = .array(elements)
        }
        return members
    }

    // MARK: - Key material

    private static func optionalString(_ members: [String: JSONValue], _ name: String) throws(SPIFFEError) -> String? {
        guard let value = members[name] else { return nil }
        guard let string = value.stringValue else { throw SPIFFEError(.malformedKey, "JWK \"\(name)\" is not a string") }
        return string
    }

    private static func bytes(_ members: [String: JSONValue], _ name: String) throws(SPIFFEError) -> [UInt8] {
        guard let text = members[name]?.stringValue else {
            throw SPIFFEError(.malformedKey, "JWK has no string \"\(name)\"")
        }
        guard let bytes = Base64.decode(text, alphabet: .url), !bytes.isEmpty else {
            throw SPIFFEError(.malformedKey, "JWK \"\(name)\" is not base64url without padding")
        }
        return bytes
    }

    private static func decodeEC(_ members: [String: JSONValue]) throws(SPIFFEError) -> Certificate.PublicKey {
        guard let curve = members["crv"]?.stringValue else { throw SPIFFEError(.malformedKey, "EC JWK has no \"crv\"") }
        let x = try bytes(members, "x")
        let y = try bytes(members, "y")
        let size: Int
        switch curve {
        case "P-256": size = 32
        case "P-384": size = 48
        case "P-521": size = 66
        default: throw SPIFFEError(.unsupportedKeyType, "EC curve \"\(curve.prefix(32))\" is not supported")
        }
        guard x.count == size, y.count == size else {
            throw SPIFFEError(.malformedKey, "\(curve) coordinates must be \(size) bytes each")
        }
        do {
            switch curve {
            case "P-256": return Certificate.PublicKey(try P256.Signing.PublicKey(rawRepresentation: x + y))
            case "P-384": return Certificate.PublicKey(try P384.Signing.PublicKey(rawRepresentation: x + y))
            default: return Certificate.PublicKey(try P521.Signing.PublicKey(rawRepresentation: x + y))
            }
        } catch {
            throw SPIFFEError(.malformedKey, "\(curve) point is not on the curve: \(error)")
        }
    }

    private static func decodeRSA(_ members: [String: JSONValue]) throws(SPIFFEError) -> Certificate.PublicKey {
        let modulus = try bytes(members, "n")
        let exponent = try bytes(members, "e")
        if modulus.count > Limits.rsaModulusBytesMax {
            throw SPIFFEError(.inputTooLarge, "RSA modulus is longer than \(Limits.rsaModulusBytesMax * 8) bits")
        }
        do {
            return Certificate.PublicKey(try _RSA.Signing.PublicKey(n: modulus, e: exponent))
        } catch {
            throw SPIFFEError(.malformedKey, "RSA key is invalid or shorter than 2048 bits: \(error)")
        }
    }

    private static func decodeOKP(_ members: [String: JSONValue]) throws(SPIFFEError) -> Certificate.PublicKey {
        guard let curve = members["crv"]?.stringValue else { throw SPIFFEError(.malformedKey, "OKP JWK has no \"crv\"") }
        guard curve == "Ed25519" else {
            throw SPIFFEError(.unsupportedKeyType, "OKP curve \"\(curve.prefix(32))\" is not supported")
        }
        let x = try bytes(members, "x")
        do {
            return Certificate.PublicKey(try Curve25519.Signing.PublicKey(rawRepresentation: x))
        } catch {
            throw SPIFFEError(.malformedKey, "Ed25519 key is invalid: \(error)")
        }
    }

    /// The key-type members (`kty`, `crv`, `x`, `y`, `n`, `e`) of `key`.
    static func encode(_ key: Certificate.PublicKey) throws(SPIFFEError) -> [String: JSONValue] {
        func coordinates(_ raw: Data, curve: String) -> [String: JSONValue] {
            let half = raw.count / 2
            return [
                "kty": .string("EC"), "crv": .string(curve),
                "x": .string(Base64.encode(raw.prefix(half), alphabet: .url)),
                "y": .string(Base64.encode(raw.suffix(half), alphabet: .url)),
            ]
        }
        if let p256 = P256.Signing.PublicKey(key) { return coordinates(p256.rawRepresentation, curve: "P-256") }
        if let p384 = P384.Signing.PublicKey(key) { return coordinates(p384.rawRepresentation, curve: "P-384") }
        if let p521 = P521.Signing.PublicKey(key) { return coordinates(p521.rawRepresentation, curve: "P-521") }
        if let ed25519 = Curve25519.Signing.PublicKey(key) {
            return ["kty": .string("OKP"), "crv": .string("Ed25519"),
                    "x": .string(Base64.encode(ed25519.rawRepresentation, alphabet: .url))]
        }
        if let rsa = _RSA.Signing.PublicKey(key) {
            let primitives: _RSA.Signing.PublicKey.Primitives
            do {
                primitives = try rsa.getKeyPrimitives()
            } catch {
                throw SPIFFEError(.malformedKey, "cannot read RSA key numbers: \(error)")
            }
            // RFC 7518 §6.3.1: minimal big-endian integers, no leading zero octets.
            return ["kty": .string("RSA"),
                    "n": .string(Base64.encode(primitives.modulus.drop { $0 == 0 }, alphabet: .url)),
                    "e": .string(Base64.encode(primitives.publicExponent.drop { $0 == 0 }, alphabet: .url))]
        }
        throw SPIFFEError(.unsupportedKeyType, "public key type cannot be expressed as a JWK")
    }
}
