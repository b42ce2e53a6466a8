/// A configuration problem, always tied to the place in the file (or the flag) that caused it.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the problem is: `file:line:column`, or a flag name such as `-trustDomain`.
    public let location: String
    public let message: String

    public init(_ message: String, at location: SourceLocation) {
        self.location = location.description
        self.message = message
    }

    public init(_ message: String, where location: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// A key SPIRE defines that Lineage does not implement: the process still starts, and the
/// operator is told the key has no effect.
public struct ConfigWarning: Hashable, Sendable, CustomStringConvertible {
    public let location: SourceLocation
    public let message: String

    public var description: String { "\(location): warning: \(message)" }
}
