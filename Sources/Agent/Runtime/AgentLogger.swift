import Config
import Foundation

/// Structured log lines on standard error, in SPIRE's two formats (logrus `text`: `time=…
/// level=info msg="…" key=value`, or one JSON object per line), filtered by `log_level`.
/// Hand-rolled because swift-log is not a dependency of the package yet; the call sites use
/// the same shape (message plus metadata) so moving to swift-log is mechanical.
public struct AgentLogger: Sendable {
    public let level: LogLevel
    public let format: LogFormat
    private let sink: @Sendable (String) -> Void

    public init(level: LogLevel = .info, format: LogFormat = .text, sink: (@Sendable (String) -> Void)? = nil) {
        self.level = level
        self.format = format
        self.sink = sink ?? { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    /// Discards everything (tests that do not look at logs).
    public static let silent = AgentLogger(level: .error, sink: { _ in })

    public func debug(_ message: String, _ fields: [(String, String)] = []) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: [(String, String)] = []) { log(.info, message, fields) }
    public func warn(_ message: String, _ fields: [(String, String)] = []) { log(.warn, message, fields) }
    public func error(_ message: String, _ fields: [(String, String)] = []) { log(.error, message, fields) }

    public func log(_ messageLevel: LogLevel, _ message: String, _ fields: [(String, String)]) {
        guard Self.rank(messageLevel) >= Self.rank(level) else { return }
        let time = ISO8601DateFormatter().string(from: Date())
        switch format {
        case .text:
            var line = "time=\(time) level=\(messageLevel.rawValue) msg=\(Self.quoted(message))"
            for (key, value) in fields { line += " \(key)=\(Self.quotedIfNeeded(value))" }
            sink(line)
        case .json:
            var object: [String: String] = ["time": time, "level": messageLevel.rawValue, "msg": message]
            for (key, value) in fields { object[key] = value }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            sink(String(decoding: data, as: UTF8.self))
        }
    }

    static func rank(_ level: LogLevel) -> Int {
        switch level {
        case .trace: 0
        case .debug: 1
        case .info: 2
        case .warn: 3
        case .error: 4
        }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func quotedIfNeeded(_ text: String) -> String {
        text.isEmpty || text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\n" }) ? quoted(text) : text
    }
}
