/// The ID of a registration entry. SPIRE mints UUIDs but accepts caller-chosen IDs; like SPIRE
/// we allow up to 255 bytes of printable ASCII (without spaces, so IDs survive shell and logs).
public struct RegistrationEntryID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(ValidationError) {
        try TextRule.check(
            rawValue, field: "", maxBytes: Limits.entryIDBytesMax, allowed: TextRule.isVisibleASCII)
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// The name of a server inside its cluster. Every server presents the same SPIFFE ID
/// (`spiffe://<td>/spire/server`), so events that a particular server caused — an authority it
/// prepared, an SVID it signed — name it by this instead.
public struct NodeName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(ValidationError) {
        try TextRule.check(
            rawValue, field: "", maxBytes: Limits.nodeNameBytesMax, allowed: TextRule.isNameByte)
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// Names one signing authority: the hex subject key identifier of an X.509 CA (SPIRE's local
/// authority ID) or the `kid` of a JWT key. Printable ASCII, because foreign bundles choose
/// their own key IDs.
public struct AuthorityID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ rawValue: String) throws(ValidationError) {
        try TextRule.check(
            rawValue, field: "", maxBytes: Limits.authorityIDBytesMax, allowed: TextRule.isPrintableASCII)
        self.rawValue = rawValue
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { rawValue }
}

/// The serial number of an X.509 certificate as its big-endian content octets.
public struct CertificateSerialNumber: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(ValidationError) {
        if bytes.isEmpty { throw ValidationError(field: "", .empty) }
        if bytes.count > Limits.serialNumberBytesMax {
            throw ValidationError(field: "", .tooLong(maxBytes: Limits.serialNumberBytesMax))
        }
        self.bytes = Array(bytes)
    }

    /// Lowercase hex, as `openssl x509 -serial` prints it (without the colons).
    public var description: String { TextRule.hex(bytes) }
}

/// A SHA-256 digest: certificate and public-key fingerprints, join-token hashes.
///
/// The model records fingerprints instead of secrets: the log is replicated to every server and
/// read by auditors, so it must never hold a private key, a JWT or a usable join token.
public struct SHA256Digest: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: some Collection<UInt8>) throws(ValidationError) {
        guard bytes.count == Self.byteCount else {
            throw ValidationError(field: "", .wrongLength(expectedBytes: Self.byteCount))
        }
        self.bytes = Array(bytes)
    }

    public var description: String { TextRule.hex(bytes) }
}
