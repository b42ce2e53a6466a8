import Crypto
import SwiftASN1
import X509
import _CryptoExtras

/// The private key of an SVID, kept in a form that can both sign (through swift-certificates)
/// and be marshalled back to unencrypted PKCS#8.
///
/// The Workload API carries X509-SVID keys as DER PKCS#8 (`x509_svid_key`, SPIFFE-WIRE §1.1) and
/// SDS carries them as a PEM `PRIVATE KEY` block (§3.2), so PKCS#8 is the only encoding accepted
/// here: SEC1 (`EC PRIVATE KEY`) and PKCS#1 (`RSA PRIVATE KEY`) are rejected, as go-spiffe's
/// `x509svid.ParseRaw` rejects them. Supported keys are the ones go-spiffe accepts and
/// swift-crypto implements (§1.6): ECDSA P-256/P-384/P-521, RSA from 2048 bits (swift-crypto's
/// floor) to 8192 bits (BoringSSL's ceiling, which also bounds the cost of a hostile key), and
/// Ed25519.
///
/// Two keys are equal when their public keys are: the public half determines the private one, and
/// comparing it keeps secret bytes out of `==` (not constant-time) and out of hashing. A key
/// parsed from DER therefore equals the same key parsed from PEM.
public struct SVIDPrivateKey: Hashable, Sendable, CustomStringConvertible {
    /// The key families an SVID may use.
    public enum Algorithm: Hashable, Sendable, CustomStringConvertible {
        case ecdsaP256
        case ecdsaP384
        case ecdsaP521
        case rsa(bits: Int)
        case ed25519

        public var description: String {
            switch self {
            case .ecdsaP256: "ECDSA P-256"
            case .ecdsaP384: "ECDSA P-384"
            case .ecdsaP521: "ECDSA P-521"
            case .rsa(let bits): "RSA-\(bits)"
            case .ed25519: "Ed25519"
            }
        }
    }

    /// The PEM block type of PKCS#8 (RFC 7468 §10).
    public static let pemType = "PRIVATE KEY"

    public let algorithm: Algorithm
    /// The key as swift-certificates uses it to sign certificates and to derive the public key.
    public let certificatePrivateKey: Certificate.PrivateKey
    /// Canonical unencrypted PKCS#8 DER, re-encoded by swift-crypto from the key itself rather than
    /// kept from the input, so the same key always marshals to the same bytes.
    private let pkcs8Bytes: [UInt8]

    public init(_ key: P256.Signing.PrivateKey) {
        self.init(algorithm: .ecdsaP256, key: Certificate.PrivateKey(key), pkcs8: Array(key.derRepresentation))
    }

    public init(_ key: P384.Signing.PrivateKey) {
        self.init(algorithm: .ecdsaP384, key: Certificate.PrivateKey(key), pkcs8: Array(key.derRepresentation))
    }

    public init(_ key: P521.Signing.PrivateKey) {
        self.init(algorithm: .ecdsaP521, key: Certificate.PrivateKey(key), pkcs8: Array(key.derRepresentation))
    }

    public init(_ key: _RSA.Signing.PrivateKey) {
        self.init(
            algorithm: .rsa(bits: key.keySizeInBits), key: Certificate.PrivateKey(key),
            pkcs8: Array(key.pkcs8DERRepresentation))
    }

    public init(_ key: Curve25519.Signing.PrivateKey) {
        self.init(algorithm: .ed25519, key: Certificate.PrivateKey(key), pkcs8: Array(key.pkcs8DERRepresentation))
    }

    private init(algorithm: Algorithm, key: Certificate.PrivateKey, pkcs8: [UInt8]) {
        precondition(!pkcs8.isEmpty, "a private key always has a PKCS#8 encoding")
        self.algorithm = algorithm
        self.certificatePrivateKey = key
        self.pkcs8Bytes = pkcs8
    }

    /// Parses an unencrypted PKCS#8 `PrivateKeyInfo` (RFC 5208). The v2 `OneAsymmetricKey` form
    /// (RFC 5958), which may append the public key, is accepted too; the optional trailing fields
    /// (attributes, public key) are ignored.
    public init(derEncoded der: [UInt8]) throws(SPIFFEError) {
        if der.count > Limits.privateKeyBytesMax {
            throw SPIFFEError(.inputTooLarge, "private key is larger than \(Limits.privateKeyBytesMax) bytes")
        }
        let info = try PKCS8Info(der: der)
        self = try Self.decode(info, der: der)
    }

    /// Parses exactly one PEM `PRIVATE KEY` block holding unencrypted PKCS#8.
    public init(parsing pem: String) throws(SPIFFEError) {
        if pem.utf8.count > Limits.privateKeyBytesMax * 2 {
            throw SPIFFEError(.inputTooLarge, "private key PEM is larger than \(Limits.privateKeyBytesMax * 2) bytes")
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw SPIFFEError(.malformedKey, "cannot parse private key PEM: \(error)")
        }
        guard documents.count == 1 else {
            throw SPIFFEError(.malformedKey, "expected exactly one PEM block, found \(documents.count)")
        }
        guard documents[0].discriminator == Self.pemType else {
            throw SPIFFEError(
                .malformedKey,
                "PEM block is \(documents[0].discriminator), expected \(Self.pemType) (unencrypted PKCS#8)")
        }
        try self.init(derEncoded: documents[0].derBytes)
    }

    /// Unencrypted PKCS#8 DER, the Workload API's `x509_svid_key`.
    public func derEncoded() -> [UInt8] { pkcs8Bytes }

    /// One PEM `PRIVATE KEY` block, the form SDS and `x509svid.Marshal` use.
    public func pemEncoded() -> String {
        PEMDocument(type: Self.pemType, derBytes: pkcs8Bytes).pemString + "\n"
    }

    public var publicKey: Certificate.PublicKey { certificatePrivateKey.publicKey }

    /// True when `certificate` certifies this key's public half (go-spiffe's `keyMatches`).
    public func matches(_ certificate: Certificate) -> Bool { publicKey == certificate.publicKey }

    /// Deliberately prints no key material.
    public var description: String { "SVIDPrivateKey(\(algorithm))" }

    public static func == (lhs: SVIDPrivateKey, rhs: SVIDPrivateKey) -> Bool { lhs.publicKey == rhs.publicKey }
    public func hash(into hasher: inout Hasher) { hasher.combine(publicKey) }
}

// MARK: - PKCS#8 decoding

extension SVIDPrivateKey {
    /// RFC 8410 §3: id-Ed25519. SwiftASN1 does not name it.
    static let ed25519OID: ASN1ObjectIdentifier = [1, 3, 101, 112]

    /// The outer fields of a PKCS#8 `PrivateKeyInfo`: enough to pick the key type. The inner key
    /// is then handed to swift-crypto, which parses the whole PKCS#8 again for EC and RSA.
    struct PKCS8Info {
        var algorithm: ASN1ObjectIdentifier
        var parameters: ASN1Node?
        var privateKey: ArraySlice<UInt8>

        init(der: [UInt8]) throws(SPIFFEError) {
            do {
                let root = try DER.parse(der)
                self = try DER.sequence(root, identifier: .sequence) { nodes in
                    let version = try Int(derEncoded: &nodes)
                    guard version == 0 || version == 1 else {
                        throw ASN1Error.invalidASN1Object(reason: "PKCS#8 version \(version) is not 0 or 1")
                    }
                    guard let algorithmNode = nodes.next() else {
                        throw ASN1Error.invalidASN1Object(reason: "PKCS#8 has no algorithm identifier")
                    }
                    let (algorithm, parameters) = try DER.sequence(algorithmNode, identifier: .sequence) {
                        algorithmNodes in
                        (try ASN1ObjectIdentifier(derEncoded: &algorithmNodes), algorithmNodes.next())
                    }
                    let privateKey = try ASN1OctetString(derEncoded: &nodes)
                    // Optional [0] attributes and (v2) [1] public key: read and ignore.
                    while nodes.next() != nil {}
                    return PKCS8Info(algorithm: algorithm, parameters: parameters, privateKey: privateKey.bytes)
                }
            } catch let error as SPIFFEError {
                throw error
            } catch {
                throw SPIFFEError(.malformedKey, "private key is not DER PKCS#8: \(error)")
            }
        }

        init(algorithm: ASN1ObjectIdentifier, parameters: ASN1Node?, privateKey: ArraySlice<UInt8>) {
            self.algorithm = algorithm
            self.parameters = parameters
            self.privateKey = privateKey
        }
    }

    static func decode(_ info: PKCS8Info, der: [UInt8]) throws(SPIFFEError) -> SVIDPrivateKey {
        do {
            switch info.algorithm {
            case .AlgorithmIdentifier.idEcPublicKey:
                return try decodeECDSA(info, der: der)
            case .AlgorithmIdentifier.rsaEncryption:
                return SVIDPrivateKey(try _RSA.Signing.PrivateKey(derRepresentation: der))
            case ed25519OID:
                let seed = try ASN1OctetString(derEncoded: info.privateKey)
                return SVIDPrivateKey(try Curve25519.Signing.PrivateKey(rawRepresentation: seed.bytes))
            default:
                throw SPIFFEError(.unsupportedAlgorithm, "private key algorithm \(info.algorithm) is not supported")
            }
        } catch let error as SPIFFEError {
            throw error
        } catch {
            throw SPIFFEError(.malformedKey, "cannot decode \(info.algorithm) private key: \(error)")
        }
    }

    private static func decodeECDSA(_ info: PKCS8Info, der: [UInt8]) throws -> SVIDPrivateKey {
        guard let parameters = info.parameters else {
            throw SPIFFEError(.malformedKey, "ECDSA private key has no named curve")
        }
        let curve = try ASN1ObjectIdentifier(derEncoded: parameters)
        switch curve {
        case .NamedCurves.secp256r1: return SVIDPrivateKey(try P256.Signing.PrivateKey(derRepresentation: der))
        case .NamedCurves.secp384r1: return SVIDPrivateKey(try P384.Signing.PrivateKey(derRepresentation: der))
        case .NamedCurves.secp521r1: return SVIDPrivateKey(try P521.Signing.PrivateKey(derRepresentation: der))
        default: throw SPIFFEError(.unsupportedAlgorithm, "ECDSA curve \(curve) is not supported")
        }
    }
}
