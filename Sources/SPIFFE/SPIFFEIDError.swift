/// Why a string is not a valid SPIFFE ID or trust domain name.
///
/// Each case names the rule of the SPIFFE ID specification that the input broke
/// (https://github.com/spiffe/spiffe/blob/main/standards/SPIFFE-ID.md). The messages follow
/// go-spiffe's wording so operators see the same text whichever implementation they run.
public struct SPIFFEIDError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Rule: String, Hashable, Sendable, CaseIterable {
        case empty
        case scheme
        case trustDomainMissing
        case trustDomainCharacter
        case trustDomainTooLong
        case userinfo
        case port
        case queryOrFragment
        case emptySegment
        case dotSegment
        case trailingSlash
        case pathCharacter
        case tooLong
        case notMemberOfTrustDomain
    }

    public let rule: Rule
    /// The offending input, shortened so that an attacker-sized string is not echoed in full.
    public let input: String

    public init(_ rule: Rule, input: String) {
        self.rule = rule
        self.input = input.count > 128 ? String(input.prefix(128)) + "…" : input
    }

    public var reason: String {
        switch rule {
        case .empty: "cannot be empty"
        case .scheme: "scheme is missing or invalid"
        case .trustDomainMissing: "trust domain is missing"
        case .trustDomainCharacter:
            "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"
        case .trustDomainTooLong: "trust domain is longer than \(Limits.trustDomainBytesMax) bytes"
        case .userinfo: "trust domain cannot contain userinfo"
        case .port: "trust domain cannot contain a port"
        case .queryOrFragment: "cannot contain a query or a fragment"
        case .emptySegment: "path cannot contain empty segments"
        case .dotSegment: "path cannot contain dot segments"
        case .trailingSlash: "path cannot have a trailing slash"
        case .pathCharacter:
            "path segment characters are limited to letters, numbers, dots, dashes, and underscores"
        case .tooLong: "is longer than \(Limits.spiffeIDBytesMax) bytes"
        case .notMemberOfTrustDomain: "is not a member of the expected trust domain"
        }
    }

    public var description: String { "invalid SPIFFE ID \"\(input)\": \(reason)" }

    public static func == (lhs: SPIFFEIDError, rhs: SPIFFEIDError) -> Bool { lhs.rule == rhs.rule }
    public func hash(into hasher: inout Hasher) { hasher.combine(rule) }
}
