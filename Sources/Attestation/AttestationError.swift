/// Why attestation could not produce selectors or refused a caller (a workload or a node).
public struct AttestationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case malformedProcFile
        /// The caller's process went away, or its PID now names another process.
        case processChanged
        /// An input (a /proc file, an x509pop payload, challenge or response) is over its bound.
        case tooLarge

        // x509pop node attestation. Reasons name the certificate (by position in the payload,
        // leaf = 0) or the field that was wrong.

        /// Not SPIRE's x509pop JSON, or a field is not what it must be (base64, nonce length).
        case malformed
        /// The payload carries no certificate.
        case noCertificate
        /// More certificates than the leaf plus `max_intermediates`.
        case tooManyCertificates
        /// A certificate is not DER X.509.
        case malformedCertificate
        /// A key that is neither ECDSA P-256/P-384 nor RSA.
        case unsupportedKey
        /// An RSA key longer than `Limits.x509popRSAModulusBitsMax`.
        case keyTooLarge
        case certificateNotYetValid
        case certificateExpired
        /// No chain from the leaf to a configured CA.
        case untrusted
        /// The leaf's key usage does not include digitalSignature (SPIRE requires it).
        case notForDigitalSignature
        /// The response answers another kind of challenge (RSA vs ECDSA).
        case wrongResponseKind
        /// The challenge-response signature does not verify with the leaf's key.
        case badSignature
        /// The agent ID built from the leaf is not a valid SPIFFE ID.
        case invalidAgentID
        /// A configured file (`ca_bundle_path`, the agent's key or certificates) cannot be read
        /// or holds no usable PEM.
        case unreadableFile
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: AttestationError, rhs: AttestationError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

public enum Limits {
    /// `/proc/<pid>/stat` and `status` are a few KiB; anything far larger is not what we asked for.
    public static let procFileBytesMax = 64 * 1024
    /// Linux's NGROUPS_MAX.
    public static let supplementaryGroupsMax = 65_536

    // x509pop (SPIRE 1.14.2 fixed a CPU DoS with huge or deep chains and huge keys): every bound
    // below is checked before any signature is verified.

    /// Bytes of the attestation payload: five certificates at their size bound, base64 in JSON.
    public static let x509popPayloadBytesMax = 128 * 1024
    /// Certificates in the payload: the leaf plus SPIRE's default `max_intermediates` (4).
    public static let x509popCertificatesMax = 5
    /// DER bytes of one certificate; real node certificates are 1–3 KiB.
    public static let x509popCertificateBytesMax = 16 * 1024
    /// RSA moduli above 4096 bits are refused; verifying with them is where the CPU goes.
    public static let x509popRSAModulusBitsMax = 4096
    /// Bytes of a challenge or a challenge response (JSON; a 4096-bit signature is 684 base64 bytes).
    public static let x509popChallengeBytesMax = 8 * 1024
    /// SPIRE's nonce length, for the server's challenge and the agent's response alike.
    public static let x509popNonceBytes = 32
}
