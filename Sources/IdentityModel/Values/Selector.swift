/// A selector: a `type:value` property of a workload or node that an attestor observed and a
/// registration entry requires (SPIRE's `types.Selector`).
///
/// The text form splits on the **first** colon, as SPIRE's CLI does, because values themselves
/// contain colons: `unix:uid:1000` is type `unix`, value `uid:1000`. Both halves must be
/// non-empty, bounded, and free of control characters; the type cannot contain a colon, so the
/// text form always parses back to the same selector.
public struct Selector: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The attestor plugin that produces it (`unix`, `k8s`, `docker`).
    public let type: String
    public let value: String

    public init(type: String, value: String) throws(ValidationError) {
        try TextRule.check(
            type, field: "type", maxBytes: Limits.selectorTypeBytesMax,
            allowed: { TextRule.isNotControl($0) && $0 != UInt8(ascii: ":") })
        try TextRule.check(
            value, field: "value", maxBytes: Limits.selectorValueBytesMax, allowed: TextRule.isNotControl)
        self.type = type
        self.value = value
    }

    /// Parses `type:value`, splitting on the first colon.
    public init(parsing text: String) throws(ValidationError) {
        guard let colon = text.utf8.firstIndex(of: UInt8(ascii: ":")) else {
            throw ValidationError(field: "", .missingSeparator)
        }
        let type = String(text[..<colon])
        let value = String(text[text.utf8.index(after: colon)...])
        try self.init(type: type, value: value)
    }

    public var description: String { type + ":" + value }

    /// Orders by type, then value, so sorted selector sets are canonical.
    public static func < (lhs: Selector, rhs: Selector) -> Bool {
        (lhs.type, lhs.value) < (rhs.type, rhs.value)
    }
}
