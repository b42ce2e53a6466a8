import Foundation

/// The few Go formatting verbs SPIRE's CLI text relies on.
enum GoFormat {
    /// Go's `%q` for a string: double-quoted with Go escapes.
    static func quoted(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                output += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }

    /// `time.Unix(seconds, 0).UTC()` printed with `%s`: `2026-11-23 10:00:00 +0000 UTC`.
    static func utcTime(_ seconds: Int64) -> String {
        time(seconds, in: TimeZone(identifier: "UTC") ?? .current, zoneName: "UTC")
    }

    /// `time.Unix(seconds, 0)` printed with `%s` in the local zone: `… +0100 CET`.
    static func localTime(_ seconds: Int64) -> String {
        let zone = TimeZone.current
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let offset = zone.secondsFromGMT(for: date)
        // Go names a zero-offset zone without its own abbreviation "UTC".
        let name = zone.abbreviation(for: date).flatMap { $0.hasPrefix("GMT") && offset == 0 ? "UTC" : $0 } ?? "UTC"
        return time(seconds, in: zone, zoneName: name)
    }

    private static func time(_ seconds: Int64, in zone: TimeZone, zoneName: String) -> String {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let offset = zone.secondsFromGMT(for: date)
        let sign = offset < 0 ? "-" : "+"
        let offsetText = String(format: "%@%02d%02d", sign, abs(offset) / 3600, abs(offset) % 3600 / 60)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d %@ %@", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0,
            parts.hour ?? 0, parts.minute ?? 0, parts.second ?? 0, offsetText, zoneName)
    }

    /// `time.Format(time.RFC3339)` in UTC: `2026-11-23T10:00:00Z`.
    static func rfc3339(_ seconds: Int64) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// SPIRE's `util.Pluralizer`.
    static func plural(_ count: Int, _ singular: String, _ plural: String) -> String {
        count == 1 ? singular : plural
    }

    /// Go's `pem.Encode`: 64-column base64 between BEGIN and END lines.
    static func pem(_ type: String, _ der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString()
        var body = ""
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            body += base64[index..<end] + "\n"
            index = end
        }
        return "-----BEGIN \(type)-----\n\(body)-----END \(type)-----\n"
    }
}
