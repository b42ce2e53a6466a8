/// Which server the agent talks to next, and when: the agent talks to one server at a time and
/// moves on by itself when that one fails. Pure: the clock and the randomness are inputs.
///
/// - A failure (connection refused or lost, Unavailable, a sync stream that ended, a server
///   behind the agent's revision) moves to the next address in the list. While addresses that
///   have not failed in this round remain, the move waits only a short jitter (`switchDelay`),
///   so a thousand agents of a dead server do not arrive at the next one in the same millisecond.
/// - Once every address failed in a row (a round), the next attempt waits an exponential
///   backoff with "equal jitter" — a random time in `[ceiling/2, ceiling]`, `ceiling =
///   min(roundCap, roundBase·2^(rounds−1))` — so a cluster without quorum or a dead network is
///   retried at a bounded rate, never in a tight loop (the floor of half the ceiling matters:
///   full jitter could draw 0 several times in a row). The caller re-resolves DNS names then.
/// - Success on a server (a sync message applied, an SVID minted) forgives earlier failures only
///   once the server has stayed good for `stableAfter`: a member that accepts a stream and dies at
///   once keeps counting as failed, so a flapping cluster still backs off.
public struct FailoverPolicy: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        /// The wait before trying an address not yet failed in this round.
        public var switchDelay: ClosedRange<Duration>
        public var roundBase: Duration
        public var roundCap: Duration
        public var stableAfter: Duration

        public init(
            switchDelay: ClosedRange<Duration> = .milliseconds(20)...(.milliseconds(200)),
            roundBase: Duration = .milliseconds(500), roundCap: Duration = .seconds(30), stableAfter: Duration = .seconds(10)
        ) {
            precondition(switchDelay.lowerBound >= .zero && roundBase > .zero && roundCap >= roundBase)
            self.switchDelay = switchDelay
            self.roundBase = roundBase
            self.roundCap = roundCap
            self.stableAfter = stableAfter
        }
    }

    /// Where to go after a failure.
    public struct Move: Sendable, Equatable {
        /// The index of the address to try next.
        public var index: Int
        /// How long to wait before trying it.
        public var delay: Duration
        /// True when every address failed in a row: the caller re-resolves names before trying.
        public var roundFailed: Bool
    }

    public let settings: Settings
    /// How many addresses there are (after resolution).
    public private(set) var count: Int
    /// The address in use.
    public private(set) var current: Int
    /// Addresses that failed in a row in the current round.
    public private(set) var failuresInRound = 0
    /// Rounds in a row in which every address failed.
    public private(set) var failedRounds = 0
    /// When the current address first succeeded on this connection; nil until it has.
    public private(set) var goodSince: ContinuousClock.Instant?

    /// `start` spreads agents over the members: the runtime draws it at random.
    public init(count: Int, start: Int = 0, settings: Settings = Settings()) {
        precondition(count > 0 && (0..<count).contains(start))
        self.count = count
        self.current = start
        self.settings = settings
    }

    /// The current address answered as it should; repeated calls keep the first time.
    public mutating func succeeded(at now: ContinuousClock.Instant) {
        if goodSince == nil { goodSince = now }
    }

    /// True when the current address has been good for `stableAfter`.
    public func isStable(at now: ContinuousClock.Instant) -> Bool {
        goodSince.map { now - $0 >= settings.stableAfter } ?? false
    }

    /// The current address failed: the next one, and how long to wait.
    public mutating func failed(at now: ContinuousClock.Instant, using generator: inout some RandomNumberGenerator) -> Move {
        if isStable(at: now) {
            failuresInRound = 0
            failedRounds = 0
        }
        goodSince = nil
        failuresInRound += 1
        current = (current + 1) % count
        guard failuresInRound >= count else {
            return Move(index: current, delay: Self.random(in: settings.switchDelay, using: &generator), roundFailed: false)
        }
        failuresInRound = 0
        failedRounds += 1
        let ceiling = min(settings.roundCap, settings.roundBase * (1 << min(failedRounds - 1, 20)))
        return Move(index: current, delay: Self.random(in: (ceiling / 2)...ceiling, using: &generator), roundFailed: true)
    }

    /// The address list changed size (a name resolved to more or fewer addresses): start the
    /// new list at `start`, keeping the failure counts (the servers are no better for it).
    public mutating func replaceAddresses(count: Int, start: Int) {
        precondition(count > 0 && (0..<count).contains(start))
        self.count = count
        self.current = start
        failuresInRound = min(failuresInRound, count - 1)
        goodSince = nil
    }

    static func random(in range: ClosedRange<Duration>, using generator: inout some RandomNumberGenerator) -> Duration {
        let low = range.lowerBound.milliseconds, high = range.upperBound.milliseconds
        return .milliseconds(Int64.random(in: low...max(low, high), using: &generator))
    }
}

extension Duration {
    /// Whole milliseconds (durations here are far below Int64 milliseconds' range).
    var milliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}
