import Crypto
import Foundation
import SPIFFE

/// SPIRE's x509pop wire messages (`pkg/common/plugin/x509pop`): JSON objects whose byte fields
/// are standard base64, as Go's `encoding/json` writes `[]byte`. Keeping the shape lets a SPIRE
/// agent attest to a Lineage server and a Lineage agent to a SPIRE server.
public enum X509PoP {
    /// The node attestor name on the wire and in agent IDs and selectors.
    public static let type = "x509pop"

    /// The attestation payload: the DER certificates, leaf first, then intermediates.
    public static func attestationPayload(chainDER: [[UInt8]]) -> [UInt8] {
        precondition(!chainDER.isEmpty, "x509pop attests with at least the leaf certificate")
        return encode(AttestationData(certificates: chainDER.map { Data($0) }))
    }

    /// The payload's certificates (DER, leaf first), with every bound checked on the way.
    static func certificates(fromPayload payload: [UInt8]) throws(AttestationError) -> [[UInt8]] {
        guard payload.count <= Limits.x509popPayloadBytesMax else {
            throw AttestationError(
                .tooLarge, "attestation payload is \(payload.count) bytes; at most \(Limits.x509popPayloadBytesMax) are accepted")
        }
        let data: AttestationData = try decode(payload, what: "attestation payload")
        guard !data.certificates.isEmpty else { throw AttestationError(.noCertificate, "attestation payload has no certificate") }
        guard data.certificates.count <= Limits.x509popCertificatesMax else {
            throw AttestationError(
                .tooManyCertificates,
                "attestation payload has \(data.certificates.count) certificates; at most \(Limits.x509popCertificatesMax) "
                    + "(the leaf and \(Limits.x509popCertificatesMax - 1) intermediates) are accepted")
        }
        for (position, certificate) in data.certificates.enumerated() where certificate.count > Limits.x509popCertificateBytesMax {
            throw AttestationError(
                .tooLarge,
                "certificate \(position) is \(certificate.count) bytes; at most \(Limits.x509popCertificateBytesMax) are accepted")
        }
        return data.certificates.map { Array($0) }
    }

    /// SHA-256 of the challenger's nonce then the responder's: what the response signs.
    static func signedDigest(challengeNonce: [UInt8], responseNonce: [UInt8]) -> SHA256Digest {
        precondition(challengeNonce.count == Limits.x509popNonceBytes && responseNonce.count == Limits.x509popNonceBytes)
        var hasher = SHA256()
        hasher.update(data: challengeNonce)
        hasher.update(data: responseNonce)
        return hasher.finalize()
    }

    // MARK: - JSON

    struct AttestationData: Codable {
        var certificates: [Data]
    }

    struct NonceBody: Codable {
        var nonce: Data
    }

    struct RSAResponseBody: Codable {
        var nonce: Data
        var signature: Data
    }

    struct ECDSAResponseBody: Codable {
        var nonce: Data
        var r: Data
        var s: Data
    }

    /// SPIRE's `Challenge` and `Response`: one member per key kind, exactly one of them set.
    struct ByKind<RSA: Codable, ECDSA: Codable>: Codable {
        var rsaSignature: RSA?
        var ecdsaSignature: ECDSA?

        enum CodingKeys: String, CodingKey {
            case rsaSignature = "rsa_signature"
            case ecdsaSignature = "ecdsa_signature"
        }
    }

    typealias ChallengeBody = ByKind<NonceBody, NonceBody>
    typealias ResponseBody = ByKind<RSAResponseBody, ECDSAResponseBody>

    static func encode(_ value: some Encodable) -> [UInt8] {
        do {
            return Array(try JSONEncoder().encode(value))
        } catch {
            preconditionFailure("x509pop messages hold only byte strings, which always encode: \(error)")
        }
    }

    static func decode<T: Decodable>(_ bytes: [UInt8], what: String) throws(AttestationError) -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw AttestationError(.malformed, "\(what) is not SPIRE's x509pop JSON: \(error)")
        }
    }
}

/// The server's challenge: sign our nonce (and yours) with the leaf's key.
public struct X509PoPChallenge: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case rsaSignature = "rsa_signature"
        case ecdsaSignature = "ecdsa_signature"
    }

    public let kind: Kind
    public let nonce: [UInt8]

    public init(kind: Kind, nonce: [UInt8]) {
        precondition(nonce.count == Limits.x509popNonceBytes)
        self.kind = kind
        self.nonce = nonce
    }

    public init(jsonEncoded bytes: [UInt8]) throws(AttestationError) {
        guard bytes.count <= Limits.x509popChallengeBytesMax else {
            throw AttestationError(.tooLarge, "challenge is \(bytes.count) bytes; at most \(Limits.x509popChallengeBytesMax) are accepted")
        }
        let body: X509PoP.ChallengeBody = try X509PoP.decode(bytes, what: "challenge")
        let kind: Kind
        let nonce: Data
        switch (body.rsaSignature, body.ecdsaSignature) {
        case (let rsa?, nil):
            kind = .rsaSignature
            nonce = rsa.nonce
        case (nil, let ecdsa?):
            kind = .ecdsaSignature
            nonce = ecdsa.nonce
        default:
            throw AttestationError(.malformed, "challenge must hold exactly one of rsa_signature and ecdsa_signature")
        }
        guard nonce.count == Limits.x509popNonceBytes else {
            throw AttestationError(.malformed, "challenge nonce is \(nonce.count) bytes; it must be \(Limits.x509popNonceBytes)")
        }
        self.init(kind: kind, nonce: Array(nonce))
    }

    public func jsonEncoded() -> [UInt8] {
        let body = X509PoP.NonceBody(nonce: Data(nonce))
        return X509PoP.encode(
            X509PoP.ChallengeBody(
                rsaSignature: kind == .rsaSignature ? body : nil, ecdsaSignature: kind == .ecdsaSignature ? body : nil))
    }
}

/// The agent's answer: its own nonce and a signature over both nonces' digest.
public struct X509PoPResponse: Sendable, Hashable {
    public enum Signature: Sendable, Hashable {
        /// RSASSA-PSS with SHA-256 over the digest.
        case rsa([UInt8])
        /// ECDSA over the digest; big-endian `r` and `s` without leading zeros, as Go's `big.Int.Bytes`.
        case ecdsa(r: [UInt8], s: [UInt8])
    }

    public let nonce: [UInt8]
    public let signature: Signature

    public init(nonce: [UInt8], signature: Signature) {
        self.nonce = nonce
        self.signature = signature
    }

    public var kind: X509PoPChallenge.Kind {
        switch signature {
        case .rsa: .rsaSignature
        case .ecdsa: .ecdsaSignature
        }
    }

    public init(jsonEncoded bytes: [UInt8]) throws(AttestationError) {
        guard bytes.count <= Limits.x509popChallengeBytesMax else {
            throw AttestationError(
                .tooLarge, "challenge response is \(bytes.count) bytes; at most \(Limits.x509popChallengeBytesMax) are accepted")
        }
        let body: X509PoP.ResponseBody = try X509PoP.decode(bytes, what: "challenge response")
        switch (body.rsaSignature, body.ecdsaSignature) {
        case (let rsa?, nil): self.init(nonce: Array(rsa.nonce), signature: .rsa(Array(rsa.signature)))
        case (nil, let ecdsa?): self.init(nonce: Array(ecdsa.nonce), signature: .ecdsa(r: Array(ecdsa.r), s: Array(ecdsa.s)))
        default: throw AttestationError(.malformed, "challenge response must hold exactly one of rsa_signature and ecdsa_signature")
        }
    }

    public func jsonEncoded() -> [UInt8] {
        switch signature {
        case .rsa(let signature):
            X509PoP.encode(X509PoP.ResponseBody(rsaSignature: .init(nonce: Data(nonce), signature: Data(signature))))
        case .ecdsa(let r, let s):
            X509PoP.encode(X509PoP.ResponseBody(ecdsaSignature: .init(nonce: Data(nonce), r: Data(r), s: Data(s))))
        }
    }
}
