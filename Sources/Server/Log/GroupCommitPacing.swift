/// When the driver should hold a pass back so that one fsync covers more proposals.
///
/// A pass makes every proposal it takes durable with one synced LMDB commit, and on this kind of
/// machine a synced commit costs ~130 µs of CPU on top of ~300 µs of waiting (the data pages,
/// `fdatasync`, the meta page: docs/benchmarks.md). Under a steady stream of proposals — many
/// agents' SVID requests at once — the driver otherwise starts a pass as soon as the first one
/// arrives and commits batches of a handful. So, as PostgreSQL's `commit_delay` with
/// `commit_siblings` does, a pass that follows a busy one (at least `siblings` proposals) waits
/// in steps of `step` while proposals keep arriving, until `batch` are queued or `maximum` has
/// passed. A lone writer never waits, and a step that brings nothing new ends the wait.
public struct GroupCommitPacing: Sendable, Equatable {
    /// The longest a pass is held back; zero turns pacing off.
    public var maximum: Duration
    /// How long each look at the inbox waits.
    public var step: Duration
    /// Proposals the previous pass must have taken for the next one to wait.
    public var siblings: Int
    /// Queued proposals that end the wait at once.
    public var batch: Int

    public static let standard = GroupCommitPacing(maximum: .milliseconds(2), step: .microseconds(250), siblings: 4, batch: 64)
    public static let off = GroupCommitPacing(maximum: .zero, step: .microseconds(250), siblings: 4, batch: 64)

    public init(maximum: Duration, step: Duration, siblings: Int, batch: Int) {
        precondition(maximum >= .zero && step > .zero && siblings > 0 && batch > 0, "pacing needs a positive step, siblings and batch")
        self.maximum = maximum
        self.step = step
        self.siblings = siblings
        self.batch = batch
    }

    /// Whether a pass that took `previousPass` proposals may hold the next one back at all.
    func paces(after previousPass: Int) -> Bool {
        maximum > .zero && previousPass >= siblings
    }

    /// Whether the pass about to start should wait one more `step`: `previousPass` proposals
    /// were taken by the last pass, `queued` are waiting now, `queuedAtLastLook` were waiting
    /// one step ago (nil before the first step), and `waited` has passed already.
    func shouldWait(previousPass: Int, queued: Int, queuedAtLastLook: Int?, waited: Duration) -> Bool {
        guard paces(after: previousPass) else { return false }
        guard queued > 0, queued < batch, waited + step <= maximum else { return false }
        if let queuedAtLastLook, queued <= queuedAtLastLook { return false }
        return true
    }
}
