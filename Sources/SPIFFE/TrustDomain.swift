/// A SPIFFE trust domain: the authority part of a SPIFFE ID (SPIFFE-ID.md §2.1).
///
/// Values can only be built through validating initialisers, so a `TrustDomain` in hand is
/// always well formed. Names are stored lowercase-only: go-spiffe rejects uppercase and so do we.
public struct TrustDomain: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The bare name, e.g. `example.org`.
    public let name: String

    /// Builds a trust domain from a bare name (`example.org`).
    public init(_ name: String) throws(SPIFFEIDError) {
        try Self.validate(name: name, input: name)
        self.name = name
    }

    /// Accepts a bare name, `spiffe://td`, or any SPIFFE ID (its trust domain is taken), like
    /// go-spiffe's `TrustDomainFromString`.
    public init(parsing string: String) throws(SPIFFEIDError) {
        if string.isEmpty { throw SPIFFEIDError(.trustDomainMissing, input: string) }
        if string.contains(":/") {
            self = try SPIFFEID(parsing: string).trustDomain
        } else {
            try self.init(string)
        }
    }

    /// Used by `SPIFFEID` after it has validated the name itself.
    init(validatedName: String) {
        precondition(!validatedName.isEmpty, "trust domain name must be validated before use")
        self.name = validatedName
    }

    /// `spiffe://<name>`: the form SPIRE uses as a bundle key and SDS resource name.
    public var idString: String { SPIFFEID.schemePrefix + name }

    /// The SPIFFE ID of the trust domain itself (no path), which signing authorities carry.
    public var id: SPIFFEID { SPIFFEID(trustDomain: self, validatedPath: "") }

    public var description: String { name }

    public static func < (lhs: TrustDomain, rhs: TrustDomain) -> Bool { lhs.name < rhs.name }

    /// Checks a trust-domain name. `input` is the whole string being parsed, for the error.
    static func validate(name: some StringProtocol, input: String) throws(SPIFFEIDError) {
        if let rule = problem(inName: name.utf8) { throw SPIFFEIDError(rule, input: input) }
    }

    /// The first rule the name's bytes break; nil when it is valid.
    static func problem(inName name: some Collection<UInt8>) -> SPIFFEIDError.Rule? {
        if name.isEmpty { return .trustDomainMissing }
        if name.count > Limits.trustDomainBytesMax { return .trustDomainTooLong }
        // Classify the characters that signal a URI component the spec forbids, so the
        // error says which rule was broken rather than only "bad character".
        if name.contains(UInt8(ascii: "@")) { return .userinfo }
        for byte in name where !isTrustDomainByte(byte) {
            switch byte {
            case UInt8(ascii: ":"): return .port
            case UInt8(ascii: "?"), UInt8(ascii: "#"): return .queryOrFragment
            default: return .trustDomainCharacter
            }
        }
        return nil
    }

    static func isTrustDomainByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }
}
