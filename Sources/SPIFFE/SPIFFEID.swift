/// A SPIFFE ID: `spiffe://<trust domain>[/<path>]` (SPIFFE-ID.md).
///
/// Parsing is strict like go-spiffe's: lowercase scheme and trust domain only, no
/// percent-encoding, no empty or dot segments, no trailing slash, no query or fragment,
/// at most `Limits.spiffeIDBytesMax` bytes. Comparison is by value; ordering is by the string.
public struct SPIFFEID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let schemePrefix = "spiffe://"

    public let trustDomain: TrustDomain
    /// The path including its leading slash (`/ns/default/sa/web`), or "" for none.
    public let path: String

    /// Parses and validates a SPIFFE ID string.
    public init(parsing string: String) throws(SPIFFEIDError) {
        if string.isEmpty { throw SPIFFEIDError(.empty, input: string) }
        if string.utf8.count > Limits.spiffeIDBytesMax { throw SPIFFEIDError(.tooLong, input: string) }
        // Over the string's UTF-8 buffer, byte by byte: every character an ID may hold is
        // ASCII, and the log decodes several IDs per event, so this runs on every signing and
        // every replayed event. (`withUTF8` copies only a string that is not native UTF-8.)
        var native = string
        switch native.withUTF8(Self.parse) {
        case .invalid(let rule): throw SPIFFEIDError(rule, input: string)
        case .valid(let name, let path):
            self.trustDomain = TrustDomain(validatedName: name)
            self.path = path
        }
    }

    private enum Parsed {
        case valid(name: String, path: String)
        case invalid(SPIFFEIDError.Rule)
    }

    private static let schemePrefixBytes = Array(schemePrefix.utf8)

    /// The rules in the order go-spiffe checks them: scheme, trust domain, path.
    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Parsed {
        guard bytes.starts(with: schemePrefixBytes) else { return .invalid(.scheme) }
        let nameStart = schemePrefixBytes.count
        let slash = bytes[nameStart...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
        let name = bytes[nameStart..<slash]
        let path = bytes[slash...]
        if let rule = TrustDomain.problem(inName: name) ?? problem(inPath: path) { return .invalid(rule) }
        return .valid(
            name: String(decoding: UnsafeBufferPointer(rebasing: name), as: UTF8.self),
            path: String(decoding: UnsafeBufferPointer(rebasing: path), as: UTF8.self))
    }

    /// Builds an ID from a trust domain and a path that must start with `/` (or be empty).
    public init(trustDomain: TrustDomain, path: String) throws(SPIFFEIDError) {
        if !path.isEmpty && !path.hasPrefix("/") { throw SPIFFEIDError(.pathCharacter, input: path) }
        try Self.validate(path: path[...], input: path)
        try self.init(checkingLength: trustDomain, path: path)
    }

    /// Builds an ID from path segments, validating each one on its own so that no segment can
    /// smuggle a `/` or a dot segment into the result (the lesson of SPIRE's SPI-01-003).
    public init(trustDomain: TrustDomain, segments: [String]) throws(SPIFFEIDError) {
        var path = ""
        for segment in segments {
            try Self.validate(segment: segment[...], input: segment)
            path += "/" + segment
        }
        try self.init(checkingLength: trustDomain, path: path)
    }

    private init(checkingLength trustDomain: TrustDomain, path: String) throws(SPIFFEIDError) {
        let length = Self.schemePrefix.utf8.count + trustDomain.name.utf8.count + path.utf8.count
        if length > Limits.spiffeIDBytesMax {
            throw SPIFFEIDError(.tooLong, input: trustDomain.idString + path)
        }
        self.trustDomain = trustDomain
        self.path = path
    }

    init(trustDomain: TrustDomain, validatedPath: String) {
        self.trustDomain = trustDomain
        self.path = validatedPath
    }

    public var string: String { trustDomain.idString + path }
    public var description: String { string }

    /// True when the ID has no path, i.e. it names the trust domain itself.
    public var isTrustDomainID: Bool { path.isEmpty }

    public func isMember(of trustDomain: TrustDomain) -> Bool { self.trustDomain == trustDomain }

    /// The path split into its segments (`/a/b` → `["a", "b"]`).
    public var segments: [Substring] { path.split(separator: "/", omittingEmptySubsequences: true) }

    /// Appends validated segments to this ID's path.
    public func appending(segments more: [String]) throws(SPIFFEIDError) -> SPIFFEID {
        try SPIFFEID(trustDomain: trustDomain, segments: segments.map(String.init) + more)
    }

    public static func < (lhs: SPIFFEID, rhs: SPIFFEID) -> Bool { lhs.string < rhs.string }

    // MARK: - Validation

    /// `path` starts with `/` (or is empty).
    static func validate(path: Substring, input: String) throws(SPIFFEIDError) {
        if let rule = problem(inPath: path.utf8) { throw SPIFFEIDError(rule, input: input) }
    }

    /// The first rule `path` (empty, or starting with `/`) breaks; nil when it is valid.
    static func problem(inPath path: some Collection<UInt8>) -> SPIFFEIDError.Rule? {
        // Walk segment by segment like go-spiffe's validatePath, so that `//` is reported as
        // an empty segment and a lone trailing `/` as a trailing slash. A segment is checked
        // when the next `/` (or the end) closes it: `count` bytes, `dots` of them dots.
        var count = -1  // the leading `/` opens the first segment
        var dots = 0
        for byte in path {
            if byte == UInt8(ascii: "/") {
                if count == 0 { return .emptySegment }
                if count > 0 && dots == count && count <= 2 { return .dotSegment }
                count = 0
                dots = 0
            } else if isPathByte(byte) {
                count += 1
                if byte == UInt8(ascii: ".") { dots += 1 }
            } else if byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") {
                return .queryOrFragment
            } else {
                return .pathCharacter
            }
        }
        if count == 0 { return .trailingSlash }
        if count > 0 && dots == count && count <= 2 { return .dotSegment }
        return nil
    }

    static func validate(segment: Substring, input: String) throws(SPIFFEIDError) {
        if segment.isEmpty { throw SPIFFEIDError(.emptySegment, input: input) }
        if segment == "." || segment == ".." { throw SPIFFEIDError(.dotSegment, input: input) }
        for byte in segment.utf8 where !isPathByte(byte) {
            throw SPIFFEIDError(.pathCharacter, input: input)
        }
    }

    static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"),
            UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}

// MARK: - SPIRE's reserved namespace

extension SPIFFEID {
    /// SPIRE reserves `/spire` and everything below it for its own agents and servers.
    public var isInReservedSPIRENamespace: Bool { path == "/spire" || path.hasPrefix("/spire/") }

    /// `spiffe://<td>/spire/server`, the identity every server presents.
    public static func server(in trustDomain: TrustDomain) -> SPIFFEID {
        SPIFFEID(trustDomain: trustDomain, validatedPath: "/spire/server")
    }

    /// `spiffe://<td>/spire/agent/<attestor>/<segments…>`; every segment is validated separately.
    public static func agent(
        in trustDomain: TrustDomain, attestor: String, segments: [String]
    ) throws(SPIFFEIDError) -> SPIFFEID {
        try SPIFFEID(trustDomain: trustDomain, segments: ["spire", "agent", attestor] + segments)
    }

    /// True for `spiffe://<td>/spire/agent/…` IDs.
    public var isAgent: Bool { path.hasPrefix("/spire/agent/") }

    /// True for `spiffe://<td>/spire/server`.
    public var isServer: Bool { path == "/spire/server" }
}
