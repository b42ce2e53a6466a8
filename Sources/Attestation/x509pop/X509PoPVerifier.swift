import Crypto
import Foundation
import SPIFFE
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509
import _CryptoExtras

/// The server side of SPIRE's `x509pop` node attestor (`ca_bundle_path` mode): the node presents
/// a certificate chain to a configured CA, then proves it holds the leaf's private key by signing
/// a fresh nonce.
///
/// Two steps, matching the attest stream: `verify(payload:at:)` checks the chain and yields a
/// `X509PoPCandidate`, which issues the challenge and checks the response. Every size, count and
/// key-length bound is checked before the first signature is verified, so a hostile payload costs
/// parsing at most (SPIRE 1.14.2's x509pop CPU DoS).
public struct X509PoPVerifier: Sendable {
    public let trustDomain: TrustDomain
    /// The CA certificates of `ca_bundle_path`/`ca_bundle_paths`: the roots chains must reach.
    public let authorities: [Certificate]

    public init(trustDomain: TrustDomain, authorities: [Certificate]) {
        precondition(!authorities.isEmpty, "x509pop needs at least one CA certificate to verify against")
        self.trustDomain = trustDomain
        self.authorities = authorities
    }

    /// Parses and bounds the payload, then verifies the chain at `time` (RFC 5280 path validation
    /// by swift-certificates' `Verifier`, the payload's certificates after the leaf as
    /// intermediates). `async` only because `Verifier.validate` is; no I/O, no clock.
    nonisolated(nonsending)
    public func verify(payload: [UInt8], at time: Date) async throws(AttestationError) -> X509PoPCandidate {
        let chainDER = try X509PoP.certificates(fromPayload: payload)
        var chain: [Certificate] = []
        var leafKey: NodeKey?
        for (position, der) in chainDER.enumerated() {
            try SubjectPublicKeyBound.check(certificateDER: der, position: position)
            let certificate: Certificate
            do {
                certificate = try Certificate(derEncoded: der)
            } catch {
                throw AttestationError(.malformedCertificate, "certificate \(position) is not a DER X.509 certificate: \(error)")
            }
            let key = try NodeKey(certificate.publicKey, position: position)
            if position == 0 { leafKey = key }
            chain.append(certificate)
        }
        guard let leafKey else { preconditionFailure("the payload's certificates are checked to be non-empty") }
        let leaf = chain[0]
        try Self.checkDigitalSignatureUsage(leaf)
        try Self.checkValidity(of: chain, at: time)

        var verifier = Verifier(rootCertificates: CertificateStore(authorities)) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            NodeCertificatePolicy()
        }
        let path: [Certificate]
        switch await verifier.validate(leaf: leaf, intermediates: CertificateStore(chain.dropFirst())) {
        case .validCertificate(let valid):
            path = Array(valid)
        case .couldNotValidate(let failures):
            let reasons = failures.prefix(3).map { "\($0.policyFailureReason)" }
            throw AttestationError(
                .untrusted,
                "certificate 0 (leaf) does not chain to a configured CA"
                    + (reasons.isEmpty ? "" : ": " + reasons.joined(separator: "; ")))
        }
        let leafFingerprint = Self.fingerprint(chainDER[0])
        let agentID: SPIFFEID
        do {
            agentID = try SPIFFEID.agent(in: trustDomain, attestor: X509PoP.type, segments: [leafFingerprint])
        } catch {
            throw AttestationError(.invalidAgentID, "agent ID from fingerprint \(leafFingerprint): \(error)")
        }
        return X509PoPCandidate(
            leaf: leaf, leafKey: leafKey, agentID: agentID,
            selectorValues: try Self.selectorValues(leaf: leaf, path: path, trustDomain: trustDomain))
    }

    // MARK: - Checks

    /// SPIRE's `GenerateChallenge` refuses a leaf whose key is not meant for signatures; an absent
    /// key usage extension means no usage at all, as in Go.
    static func checkDigitalSignatureUsage(_ leaf: Certificate) throws(AttestationError) {
        let usage: KeyUsage?
        do {
            usage = try leaf.extensions.keyUsage
        } catch {
            throw AttestationError(.malformedCertificate, "certificate 0 (leaf) has a malformed key usage extension: \(error)")
        }
        guard let usage, usage.digitalSignature else {
            throw AttestationError(
                .notForDigitalSignature, "certificate 0 (leaf) key usage does not include digitalSignature")
        }
    }

    /// Each presented certificate's validity at `time`, named by position (the `Verifier` checks
    /// again but only says "no valid chain").
    static func checkValidity(of chain: [Certificate], at time: Date) throws(AttestationError) {
        for (position, certificate) in chain.enumerated() {
            if time < certificate.notValidBefore {
                throw AttestationError(
                    .certificateNotYetValid, "certificate \(position) is not valid before \(certificate.notValidBefore), checked at \(time)")
            }
            if time > certificate.notValidAfter {
                throw AttestationError(
                    .certificateExpired, "certificate \(position) expired at \(certificate.notValidAfter), checked at \(time)")
            }
        }
    }

    // MARK: - Identity

    /// Lowercase hex SHA-1 of the DER certificate (SPIRE's `x509pop.Fingerprint`).
    public static func fingerprint(_ der: [UInt8]) -> String {
        Insecure.SHA1.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    /// SPIRE's `buildSelectorValues`, in its order: `subject:cn:` (when the leaf has a CN),
    /// `ca:fingerprint:` for each certificate of the path after the leaf (intermediates, then the
    /// root), `serialnumber:`, then `san:<key>:<value>` for `x509pop://<td>/<key>/<value>` URI
    /// SANs (sorted by key; SPIRE's order is a Go map's).
    static func selectorValues(leaf: Certificate, path: [Certificate], trustDomain: TrustDomain) throws(AttestationError) -> [String] {
        var values: [String] = []
        let commonNames = leaf.subject.flatMap { $0 }.filter { $0.type == .RDNAttributeType.commonName }
        if let commonName = commonNames.last.flatMap({ String($0.value) }), !commonName.isEmpty {
            values.append("subject:cn:\(commonName)")
        }
        var seen: Set<String> = []
        for certificate in path.dropFirst() {
            let caFingerprint = fingerprint(try der(certificate))
            if seen.insert(caFingerprint).inserted { values.append("ca:fingerprint:\(caFingerprint)") }
        }
        values.append("serialnumber:\(serialNumberHex(leaf.serialNumber))")
        for (key, value) in try uriSANSelectors(leaf: leaf, trustDomain: trustDomain).sorted(by: { $0.key < $1.key }) {
            values.append("san:\(key):\(value)")
        }
        return values
    }

    /// Lowercase hex with an even number of digits and no leading zero byte (SPIRE's
    /// `SerialNumberHex`).
    static func serialNumberHex(_ serial: Certificate.SerialNumber) -> String {
        let magnitude = serial.bytes.drop { $0 == 0 }
        return magnitude.isEmpty ? "00" : magnitude.map { String(format: "%02x", $0) }.joined()
    }

    static func uriSANSelectors(leaf: Certificate, trustDomain: TrustDomain) throws(AttestationError) -> [String: String] {
        let names: SubjectAlternativeNames?
        do {
            names = try leaf.extensions.subjectAlternativeNames
        } catch {
            throw AttestationError(.malformedCertificate, "certificate 0 (leaf) has a malformed subject alternative name: \(error)")
        }
        let prefix = "\(X509PoP.type)://\(trustDomain.name)/"
        var selectors: [String: String] = [:]
        let generalNames: [GeneralName] = names.map { Array($0) } ?? []
        for case .uniformResourceIdentifier(let uri) in generalNames where uri.hasPrefix(prefix) {
            // The URI's path, without query or fragment, percent-decoded (Go's `url.URL.Path`).
            let rawPath = uri.dropFirst(prefix.count).prefix { $0 != "?" && $0 != "#" }
            let path = (String(rawPath).removingPercentEncoding ?? String(rawPath)).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            let segments = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard segments.count == 2 else { continue }
            selectors[String(segments[0])] = String(segments[1])
        }
        return selectors
    }

    static func der(_ certificate: Certificate) throws(AttestationError) -> [UInt8] {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(certificate)
        } catch {
            throw AttestationError(.malformedCertificate, "cannot re-encode a certificate of the path: \(error)")
        }
        return serializer.serializedBytes
    }
}

/// A node whose certificate chain verified, before it proved it holds the leaf's key. The
/// attestation (agent ID and selectors) is only handed out by `verify(response:to:)`.
public struct X509PoPCandidate: Sendable {
    public let leaf: Certificate
    let leafKey: NodeKey
    let agentID: SPIFFEID
    let selectorValues: [String]

    /// A challenge of the kind the leaf's key can answer, with a nonce from `random`.
    public func challenge(using random: inout some RandomNumberGenerator) -> X509PoPChallenge {
        let nonce = (0..<Limits.x509popNonceBytes).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        return X509PoPChallenge(kind: leafKey.challengeKind, nonce: nonce)
    }

    /// Checks that `response` (SPIRE's JSON) signs `challenge`'s nonce and the agent's with the
    /// leaf's key.
    public func verify(response bytes: [UInt8], to challenge: X509PoPChallenge) throws(AttestationError) -> X509PoPAttestation {
        let response = try X509PoPResponse(jsonEncoded: bytes)
        guard response.kind == challenge.kind else {
            throw AttestationError(
                .wrongResponseKind, "the challenge asked for \(challenge.kind.rawValue) but the response holds \(response.kind.rawValue)")
        }
        guard response.nonce.count == Limits.x509popNonceBytes else {
            throw AttestationError(
                .malformed, "response nonce is \(response.nonce.count) bytes; it must be \(Limits.x509popNonceBytes)")
        }
        let digest = X509PoP.signedDigest(challengeNonce: challenge.nonce, responseNonce: response.nonce)
        guard leafKey.isValid(response.signature, for: digest) else {
            throw AttestationError(
                .badSignature, "the challenge response is not signed by the key of certificate 0 (leaf) over this challenge")
        }
        return X509PoPAttestation(agentID: agentID, selectorValues: selectorValues)
    }
}

/// What a successful x509pop attestation establishes.
public struct X509PoPAttestation: Sendable, Hashable {
    /// `spiffe://<td>/spire/agent/x509pop/<SHA-1 fingerprint of the leaf>` (SPIRE's default
    /// `agent_path_template`).
    public let agentID: SPIFFEID
    /// Selector values of type `x509pop`, in SPIRE's order.
    public let selectorValues: [String]
}

/// A payload certificate's public key, classified before any use.
enum NodeKey: Sendable {
    case p256(P256.Signing.PublicKey)
    case p384(P384.Signing.PublicKey)
    case rsa(modulus: [UInt8], exponent: [UInt8])

    init(_ key: Certificate.PublicKey, position: Int) throws(AttestationError) {
        if let key = P256.Signing.PublicKey(key) {
            self = .p256(key)
        } else if let key = P384.Signing.PublicKey(key) {
            self = .p384(key)
        } else if let key = _RSA.Signing.PublicKey(key) {
            // Its size was bounded on the DER, before parsing (`SubjectPublicKeyBound`).
            do {
                let primitives = try key.getKeyPrimitives()
                self = .rsa(modulus: Array(primitives.modulus), exponent: Array(primitives.publicExponent))
            } catch {
                throw AttestationError(.unsupportedKey, "certificate \(position) has an unreadable RSA key: \(error)")
            }
        } else {
            throw AttestationError(.unsupportedKey, "certificate \(position) has a \(key) key; only ECDSA P-256/P-384 and RSA are accepted")
        }
    }

    var challengeKind: X509PoPChallenge.Kind {
        switch self {
        case .p256, .p384: .ecdsaSignature
        case .rsa: .rsaSignature
        }
    }

    func isValid(_ signature: X509PoPResponse.Signature, for digest: SHA256Digest) -> Bool {
        switch (self, signature) {
        case (.p256(let key), .ecdsa(let r, let s)):
            guard let raw = Self.rawECDSA(r: r, s: s, coordinateBytes: 32),
                let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw)
            else { return false }
            return key.isValidSignature(signature, for: digest)
        case (.p384(let key), .ecdsa(let r, let s)):
            guard let raw = Self.rawECDSA(r: r, s: s, coordinateBytes: 48),
                let signature = try? P384.Signing.ECDSASignature(rawRepresentation: raw)
            else { return false }
            return key.isValidSignature(signature, for: digest)
        case (.rsa(let modulus, let exponent), .rsa(let signature)):
            return RSAPSSVerification.isValid(
                signature: signature, sha256Digest: Array(digest), modulus: modulus, exponent: exponent)
        default:
            return false
        }
    }

    /// `r ‖ s`, each left-padded to the curve's size; nil if either is longer (Go's `big.Int`
    /// bytes carry no leading zeros).
    static func rawECDSA(r: [UInt8], s: [UInt8], coordinateBytes: Int) -> [UInt8]? {
        let r = r.drop { $0 == 0 }
        let s = s.drop { $0 == 0 }
        guard r.count <= coordinateBytes, s.count <= coordinateBytes else { return nil }
        return [UInt8](repeating: 0, count: coordinateBytes - r.count) + r + [UInt8](repeating: 0, count: coordinateBytes - s.count) + s
    }
}

/// Declares the SAN and EKU extensions handled, so a critical SAN (an empty subject) or EKU
/// does not fail path validation: SPIRE verifies x509pop chains with `ExtKeyUsageAny`.
struct NodeCertificatePolicy: VerifierPolicy, Sendable {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.subjectAlternativeName,
        .X509ExtensionID.extendedKeyUsage,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        .meetsPolicy
    }
}
