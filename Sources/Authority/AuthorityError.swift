/// Why the CA refused to build or sign something. Codes are stable; reasons are for people.
public struct AuthorityError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case malformedCSR
        case csrSignatureInvalid
        case keyNotAllowed
        case ttlNotPositive
        case authorityExpired
        case authorityNotYetValid
        case invalidDNSName
        case signingFailed
        /// The upstream authority's files are unusable (SPIRE's `UpstreamAuthority "disk"`).
        case upstreamInvalid
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: AuthorityError, rhs: AuthorityError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

/// Bounds on what the CA accepts.
public enum Limits {
    /// A CSR larger than this is refused before parsing.
    public static let csrBytesMax = 16 * 1024
    /// DNS names per SVID, and bytes per name (RFC 1035's 253 characters).
    public static let dnsNamesMax = 64
    public static let dnsNameBytesMax = 253
    /// RSA keys accepted in CSRs, in bits.
    public static let rsaKeyBitsMin = 2048
    public static let rsaKeyBitsMax = 8192
    /// Certificates in an upstream authority's chain or bundle file.
    public static let upstreamCertificatesMax = 8
}
