import Config
import Foundation
import StructuredLogging

/// Structured log lines on standard error in SPIRE's formats (`LogLine`), filtered by
/// `log_level`. The agent's call sites predate swift-log in the package; they use the same
/// shape (message plus fields), so moving them to `Logging.Logger` is mechanical.
public struct AgentLogger: Sendable {
    public let level: LogLevel
    public let format: LogFormat
    private let sink: @Sendable (String) -> Void

    public init(level: LogLevel = .info, format: LogFormat = .text, sink: (@Sendable (String) -> Void)? = nil) {
        self.level = level
        self.format = format
        self.sink = sink ?? LineLogHandler.standardError
    }

    /// Discards everything (tests that do not look at logs).
    public static let silent = AgentLogger(level: .error, sink: { _ in })

    public func debug(_ message: String, _ fields: [(String, String)] = []) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: [(String, String)] = []) { log(.info, message, fields) }
    public func warn(_ message: String, _ fields: [(String, String)] = []) { log(.warn, message, fields) }
    public func error(_ message: String, _ fields: [(String, String)] = []) { log(.error, message, fields) }

    public func log(_ messageLevel: LogLevel, _ message: String, _ fields: [(String, String)]) {
        guard LogLine.passes(messageLevel, threshold: level) else { return }
        sink(LogLine.render(level: messageLevel, message: message, fields: fields, format: format))
    }
}
