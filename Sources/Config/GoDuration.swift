/// Durations in the syntax of Go's `time.ParseDuration`, which SPIRE's configuration uses
/// (`ca_ttl = "24h"`, `default_x509_svid_ttl = "1h30m"`, `"300ms"`).
public enum GoDuration {
    public struct ParseError: Error, Sendable {
        public let message: String
    }

    /// Accepted units, longest first so that `ms` wins over `m`.
    private static let units: [(String, Double)] = [
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ]

    /// The largest duration accepted: Go's own limit is about 292 years; a bound keeps the
    /// arithmetic far from overflow.
    static let secondsMax: Double = 100 * 365 * 24 * 3600

    public static func parse(_ text: String) throws(ParseError) -> Duration {
        var rest = Substring(text)
        guard !rest.isEmpty else { throw ParseError(message: "empty duration") }
        var sign = 1.0
        if rest.first == "-" || rest.first == "+" {
            sign = rest.first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        if rest == "0" { return .zero }
        var seconds = 0.0
        while !rest.isEmpty {
            let numberText = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !numberText.isEmpty, numberText != ".", let number = Double(numberText) else {
                throw ParseError(message: "invalid duration \"\(text)\" (use a number and a unit, e.g. 1h30m)")
            }
            rest = rest.dropFirst(numberText.count)
            guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else {
                throw ParseError(message: "missing or unknown unit in duration \"\(text)\" (ns, us, ms, s, m, h)")
            }
            rest = rest.dropFirst(unit.count)
            seconds += number * scale
            if seconds > secondsMax { throw ParseError(message: "duration \"\(text)\" is too long") }
        }
        return .nanoseconds(Int64((sign * seconds * 1e9).rounded()))
    }

    /// Formats like Go's `Duration.String` for whole seconds (`1h30m0s`), used in messages.
    public static func format(_ duration: Duration) -> String {
        var seconds = duration.components.seconds
        if seconds == 0 { return "0s" }
        var text = seconds < 0 ? "-" : ""
        seconds = abs(seconds)
        if seconds >= 3600 { text += "\(seconds / 3600)h" }
        if seconds >= 60 { text += "\(seconds % 3600 / 60)m" }
        return text + "\(seconds % 60)s"
    }
}
