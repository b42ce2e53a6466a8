/// Why attestation could not produce selectors or refused a caller.
public struct AttestationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case malformedProcFile
        /// The caller's process went away, or its PID now names another process.
        case processChanged
        case tooLarge
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    public static func == (lhs: AttestationError, rhs: AttestationError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}

public enum Limits {
    /// `/proc/<pid>/stat` and `status` are a few KiB; anything far larger is not what we asked for.
    public static let procFileBytesMax = 64 * 1024
    /// Linux's NGROUPS_MAX.
    public static let supplementaryGroupsMax = 65_536
}
