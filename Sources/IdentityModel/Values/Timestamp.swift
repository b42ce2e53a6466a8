/// A point in time as milliseconds since the Unix epoch, stamped by the leader.
///
/// Events carry time as data rather than reading a clock, so every replica folds the same log to
/// the same state (DESIGN.md: "`apply` never reads a clock"). Milliseconds are exact in the
/// codec's `int64` fields; certificate and entry times have whole seconds and fit losslessly.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var millisecondsSinceEpoch: Int64

    public init(millisecondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = millisecondsSinceEpoch
    }

    /// Whole seconds since the epoch, as SPIRE's APIs and X.509 validity carry them.
    public init(secondsSinceEpoch: Int64) {
        self.millisecondsSinceEpoch = secondsSinceEpoch * 1000
    }

    /// Whole seconds since the epoch, rounded towards negative infinity.
    public var secondsSinceEpoch: Int64 {
        millisecondsSinceEpoch >= 0
            ? millisecondsSinceEpoch / 1000 : (millisecondsSinceEpoch - 999) / 1000
    }

    /// This time moved by a whole number of milliseconds of `duration` (sub-millisecond parts
    /// are dropped, so the result is representable in the log).
    public func advanced(by duration: Duration) -> Timestamp {
        let (seconds, attoseconds) = duration.components
        return Timestamp(
            millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        lhs.millisecondsSinceEpoch < rhs.millisecondsSinceEpoch
    }

    public var description: String { "\(millisecondsSinceEpoch)ms" }
}
