import Config
import Foundation

/// Reading a configuration file for `run` and `validate`: the file's text, and `-expandEnv`'s
/// environment. A missing or unreadable file is a clear error naming the path, as SPIRE's is.
public enum ConfigFile {
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func read(_ path: String) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else {
            let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
            throw ReadError(description: "could not find config file \(absolute): please use the -config flag")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "could not read config file \(path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ReadError(description: "config file \(path) is not UTF-8 text")
        }
        return text
    }

    public static func environment(expand: Bool) -> [String: String]? {
        expand ? ProcessInfo.processInfo.environment : nil
    }

    /// Prints configuration warnings the way SPIRE logs unknown-but-known keys: one per line.
    public static func printWarnings(_ warnings: [ConfigWarning]) {
        for warning in warnings {
            FileHandle.standardError.write(Data("\(warning)\n".utf8))
        }
    }
}

/// Writes a line to standard error (the CLI's diagnostics channel).
public func printError(_ text: String) {
    FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
}
