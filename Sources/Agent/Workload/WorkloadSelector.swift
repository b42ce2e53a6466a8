/// One fact about a workload, as a workload attestor states it: `unix:uid:1000` is type `unix`,
/// value `uid:1000` (SPIRE's `Selector`). Registration entries name the selectors a workload
/// must have.
public struct WorkloadSelector: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let type: String
    public let value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    /// `type:value`, split on the first `:` only (values may contain `:`); nil when either side
    /// is empty.
    public init?(parsing text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let type = String(text[..<colon])
        let value = String(text[text.index(after: colon)...])
        guard !type.isEmpty, !value.isEmpty else { return nil }
        self.init(type: type, value: value)
    }

    public var description: String { "\(type):\(value)" }

    public static func < (lhs: WorkloadSelector, rhs: WorkloadSelector) -> Bool {
        (lhs.type, lhs.value) < (rhs.type, rhs.value)
    }
}
