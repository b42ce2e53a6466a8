/// How a leader currently replicates to one follower (etcd's `tracker.Progress`).
///
/// ```
///             reject / timeout
///   probe <------------------------ replicate
///     |  ack ----------------------->   ^
///     | compacted                       |
///     v                                 |
///  snapshot --- ack at or past it ---> probe
/// ```
enum ReplicationState: Sendable, Hashable {
    /// We do not know the follower's log; send one append per heartbeat and wait.
    case probe
    /// The follower accepts appends; stream them optimistically up to the in-flight limit.
    case replicate
    /// The follower needs a snapshot; send nothing until it acknowledges or we time out.
    case snapshot
}

struct Progress: Sendable, Hashable {
    /// The highest index known to be replicated (and persisted) on the follower.
    var match: LogIndex = 0
    /// The next index to send.
    var next: LogIndex
    var state: ReplicationState = .probe
    /// In `probe`, whether an append is outstanding (cleared by any response).
    var probeSent = false
    /// In `snapshot`, the index of the snapshot that was sent.
    var pendingSnapshot: LogIndex = 0
    /// In `snapshot`, ticks since the snapshot was sent, so a lost snapshot is retried.
    var snapshotElapsedTicks = 0
    /// Whether the follower answered since the last check-quorum round.
    var recentActive = false
    /// The last index of each append in flight, oldest first (bounded by the in-flight limit).
    var inflight: [LogIndex] = []

    init(next: LogIndex) {
        self.next = next
    }

    var isPaused: Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= Limits.inflightAppendsMax
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        next = state == .snapshot ? max(match + 1, pendingSnapshot + 1) : match + 1
        state = .probe
        probeSent = false
        pendingSnapshot = 0
        inflight.removeAll()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        inflight.removeAll()
    }

    mutating func becomeSnapshot(at index: LogIndex) {
        state = .snapshot
        pendingSnapshot = index
        snapshotElapsedTicks = 0
        inflight.removeAll()
    }

    /// Records an acknowledgement through `index`; returns whether `match` moved.
    mutating func update(acknowledged index: LogIndex) -> Bool {
        next = max(next, index + 1)
        probeSent = false
        guard index > match else { return false }
        match = index
        return true
    }

    /// Handles a rejection of the append at `rejected`; returns false for a stale rejection.
    mutating func decrement(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // Appends arrive in order, so a rejection at or below match is stale.
            guard rejected > match else { return false }
            next = match + 1
            return true
        }
        // A rejection at or below match contradicts an earlier acknowledgement (the follower
        // lost entries it promised to keep); a duplicate of it must not multiply probes.
        guard next - 1 == rejected, rejected > match else { return false }
        next = max(match + 1, min(rejected, hint + 1))
        probeSent = false
        return true
    }

    /// Records that an append ending at `lastIndex` carrying `count` entries was sent.
    mutating func sent(lastIndex: LogIndex, count: Int) {
        switch state {
        case .replicate:
            guard count > 0 else { return }
            next = lastIndex + 1
            inflight.append(lastIndex)
            precondition(inflight.count <= Limits.inflightAppendsMax)
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("append sent to a follower waiting for a snapshot")
        }
    }

    mutating func freeInflight(through index: LogIndex) {
        inflight.removeAll { $0 <= index }
    }
}
