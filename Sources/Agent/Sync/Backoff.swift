/// Exponential backoff with full jitter for reconnecting to the server (what go-spiffe and
/// SPIRE's agent do for their streams): the n-th consecutive failure waits a random time in
/// `[0, min(cap, base·2ⁿ)]`. A success resets it. Pure: randomness is injected.
public struct Backoff: Sendable, Equatable {
    public let base: Duration
    public let cap: Duration
    public private(set) var failures = 0

    public init(base: Duration = .milliseconds(500), cap: Duration = .seconds(30)) {
        precondition(base > .zero && cap >= base)
        self.base = base
        self.cap = cap
    }

    /// The ceiling of the next wait, after `failures` consecutive failures.
    public var ceiling: Duration {
        // 2^20 · base is far above any sensible cap; stop doubling there to avoid overflow.
        let doublings = min(failures, 20)
        let grown = base * (1 << doublings)
        return min(grown, cap)
    }

    /// Records a failure and returns how long to wait before the next attempt.
    public mutating func nextDelay(using generator: inout some RandomNumberGenerator) -> Duration {
        let ceiling = self.ceiling
        failures += 1
        let milliseconds = ceiling.components.seconds * 1_000 + ceiling.components.attoseconds / 1_000_000_000_000_000
        return .milliseconds(Int64.random(in: 0...max(1, milliseconds), using: &generator))
    }

    public mutating func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    public mutating func reset() { failures = 0 }
}
