import Config
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes `LogLine`s, one whole line per write, to standard error or
/// to a sink (tests). Metadata keys become fields in sorted order after the handler's own.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let format: LogFormat
    let sink: @Sendable (String) -> Void

    public init(level: LogLevel, format: LogFormat, sink: (@Sendable (String) -> Void)? = nil) {
        self.logLevel = level.swiftLogLevel
        self.format = format
        self.sink = sink ?? Self.standardError
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let fields = merged.sorted { $0.key < $1.key }.map { ($0.key, "\($0.value)") }
        sink(LogLine.render(level: LogLevel(event.level), message: "\(event.message)", fields: fields, format: format))
    }

    /// Lines from several threads must not interleave: one `write` per line, under a lock.
    private static let standardErrorLock = Mutex(())
    public static let standardError: @Sendable (String) -> Void = { line in
        standardErrorLock.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }

    public struct FileError: Error, CustomStringConvertible {
        public let description: String
    }

    /// SPIRE's `log_file`: lines appended to `path` (created 0640). The file stays open for the
    /// process's life; `O_APPEND` makes each line's single `write` land whole at the end.
    public static func fileSink(path: String) throws(FileError) -> @Sendable (String) -> Void {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            throw FileError(description: "cannot open log_file \(path): \(String(cString: strerror(errno)))")
        }
        return { line in
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        }
    }
}

extension Logger {
    /// A logger that writes SPIRE-format lines for `log_level` and `log_format`.
    public static func lines(label: String, level: LogLevel, format: LogFormat, sink: (@Sendable (String) -> Void)? = nil) -> Logger {
        Logger(label: label) { _ in LineLogHandler(level: level, format: format, sink: sink) }
    }

    /// Discards everything (tests and tools that do not log).
    public static func silent(label: String) -> Logger {
        Logger(label: label) { _ in SwiftLogNoOpLogHandler() }
    }
}
