import Foundation

/// When a server's authorities move, on SPIRE's schedule (pkg/server/ca/manager): the next
/// authority is prepared at half the current one's lifetime, activated at five-sixths, and old
/// authorities stay in the bundle until they expire, then are pruned.
///
/// Pure: given the slots and the time, it says what to do; the caller makes the keys, records
/// the event, and calls again.
public enum RotationPolicy {
    /// The validity window of one authority.
    public struct Window: Sendable, Hashable {
        public var notBefore: Date
        public var notAfter: Date

        public init(notBefore: Date, notAfter: Date) {
            precondition(notBefore < notAfter, "an authority's window must not be empty")
            self.notBefore = notBefore
            self.notAfter = notAfter
        }

        var lifetime: TimeInterval { notAfter.timeIntervalSince(notBefore) }

        /// The instant `fraction` of the way through the window.
        func point(_ fraction: Double) -> Date { notBefore + lifetime * fraction }
    }

    public enum Action: Sendable, Hashable {
        /// No authority is active: make one and activate it at once.
        case bootstrap
        case prepareNext
        case activateNext
        case none
    }

    public static let prepareFraction = 0.5
    public static let activateFraction = 5.0 / 6.0

    /// What to do now. `current` is the active authority's window, `next` the prepared one's.
    public static func action(now: Date, current: Window?, next: Window?) -> Action {
        guard let current, now < current.notAfter else {
            // Nothing active, or it expired: a prepared authority that is valid takes over,
            // otherwise a new one must be made.
            if let next, now < next.notAfter { return .activateNext }
            return .bootstrap
        }
        if let next {
            return now >= current.point(activateFraction) && now < next.notAfter ? .activateNext : .none
        }
        return now >= current.point(prepareFraction) ? .prepareNext : .none
    }

    /// The authorities that may leave the bundle now: those whose windows have ended.
    public static func prunable<ID>(now: Date, authorities: [(id: ID, window: Window)]) -> [ID] {
        authorities.filter { now >= $0.window.notAfter }.map(\.id)
    }
}
