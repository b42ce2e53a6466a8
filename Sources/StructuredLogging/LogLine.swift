import Config
import Foundation
import Logging

/// One log line in SPIRE's two formats: logrus `text` (`time=… level=info msg="…" key=value`)
/// or one JSON object per line, with the same keys. Shared by the server and the agent so an
/// operator's log pipeline reads both the same way.
public enum LogLine {
    public static func render(
        level: LogLevel, message: String, fields: [(String, String)], format: LogFormat, time: Date = Date()
    ) -> String {
        let stamp = timestamp(time)
        switch format {
        case .text:
            var line = "time=\(stamp) level=\(level.rawValue) msg=\(quoted(message))"
            for (key, value) in fields { line += " \(key)=\(quotedIfNeeded(value))" }
            return line
        case .json:
            var object: [String: String] = ["time": stamp, "level": level.rawValue, "msg": message]
            for (key, value) in fields where object[key] == nil { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    /// Whether a message at `level` passes a `threshold` (SPIRE's `log_level`).
    public static func passes(_ level: LogLevel, threshold: LogLevel) -> Bool { rank(level) >= rank(threshold) }

    static func rank(_ level: LogLevel) -> Int {
        switch level {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .warn: 3
        case .error: 4
        }
    }

    /// RFC 3339 in UTC (logrus prints RFC 3339 too).
    static func timestamp(_ date: Date) -> String { date.formatted(.iso8601) }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func quotedIfNeeded(_ text: String) -> String {
        text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) ? quoted(text) : text
    }
}

extension LogLevel {
    /// The swift-log level a SPIRE `log_level` filters at.
    public var swiftLogLevel: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .warn: .warning
        case .error: .error
        }
    }

    init(_ level: Logger.Level) {
        switch level {
        case .trace: self = .trace
        case .debug: self = .debug
        case .info, .notice: self = .info
        case .warning: self = .warn
        case .error, .critical: self = .error
        }
    }
}
