/// The position of an entry in the replicated log, starting at 1 (0 means "nothing yet").
///
/// Wherever a stream resumes "from revision N", N is a log index: every change anywhere in the
/// control plane has exactly one, so one number orders them all (etcd's revision). An entry's
/// own `revisionNumber` is a separate per-entry counter, as in SPIRE.
public struct LogIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Before the first entry.
    public static let zero = LogIndex(0)

    /// The index after this one.
    public var next: LogIndex { LogIndex(rawValue + 1) }

    public static func < (lhs: LogIndex, rhs: LogIndex) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}

/// A global revision: the log index a watch or sync stream resumes from.
public typealias Revision = LogIndex
