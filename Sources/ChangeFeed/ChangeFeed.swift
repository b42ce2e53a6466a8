import IdentityModel
import Projections
import Synchronization

/// What a change-feed subscriber receives.
public enum FeedEvent: Hashable, Sendable {
    /// The changes applied at log index `revision`, in log order.
    case changes(Revision, [Change])
    /// The subscriber fell behind what the feed keeps (it resumed from a revision older than
    /// the ring, or its buffer overflowed). It must rebuild from a snapshot at or after
    /// `atRevision` and subscribe again from there; this is the last event of its stream.
    case resync(atRevision: Revision)
}

/// Fans applied changes out to subscribers (agent sync streams, auditors), etcd-watch style.
///
/// - `publish` never blocks and never waits for a subscriber: the apply loop calls it after
///   each applied entry, so a slow agent must not slow the control plane.
/// - The feed keeps the last `ringCapacity` non-empty batches, so a subscriber that resumes
///   from a slightly older revision catches up from memory.
/// - Every subscriber has a buffer of at most `bufferCapacity` events. A subscriber that lets it
///   fill, or that asks for a revision older than the ring, becomes a "victim": its buffer is
///   dropped, it gets one `.resync(atRevision:)` and its stream ends. Memory stays bounded by
///   `ringCapacity + subscribers × bufferCapacity` batches whatever the subscribers do.
///
/// `Sendable` through a `Mutex` around small synchronous state (the `GRPCServer` pattern):
/// nothing under the lock awaits.
public final class ChangeFeed: Sendable {
    /// Batches kept for catch-up.
    public let ringCapacity: Int
    /// Events buffered per subscriber before it is made to resync.
    public let bufferCapacity: Int

    private let state: Mutex<FeedState>

    /// A feed whose history starts after `revision`: the state it publishes on top of has
    /// applied everything up to `revision` (the server's applied index at start).
    public init(
        startingAfter revision: Revision = .zero,
        ringCapacity: Int = Limits.ringBatchesMax,
        bufferCapacity: Int = Limits.subscriberBufferEventsMax
    ) {
        precondition(ringCapacity > 0, "a feed keeps at least one batch")
        precondition(bufferCapacity > 1, "a subscriber buffer holds at least two events")
        self.ringCapacity = ringCapacity
        self.bufferCapacity = bufferCapacity
        self.state = Mutex(FeedState(floor: revision, latest: revision))
    }

    /// The last revision published (or the starting one).
    public var latestRevision: Revision { state.withLock { $0.latest } }

    /// The number of live subscribers (for metrics and tests).
    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// Publishes the changes applied at `revision`. Revisions must strictly increase. A batch
    /// without changes (a rejected event) only advances the revision; it is not stored.
    public func publish(revision: Revision, changes: [Change]) {
        let wakeups: [(CheckedContinuation<FeedEvent?, Never>, FeedEvent?)] = state.withLock { state in
            precondition(revision > state.latest, "revision \(revision) published after \(state.latest)")
            state.latest = revision
            guard !changes.isEmpty else { return [] }
            state.ring.append((revision, changes))
            if state.ring.count > ringCapacity {
                state.floor = state.ring.removeFirst().revision
            }
            var wakeups: [(CheckedContinuation<FeedEvent?, Never>, FeedEvent?)] = []
            for id in state.subscribers.keys.sorted() {
                guard var subscriber = state.subscribers[id], !subscriber.isEnding else { continue }
                if revision > subscriber.after {
                    if subscriber.buffer.count >= bufferCapacity {
                        subscriber.buffer = [.resync(atRevision: revision)]
                        subscriber.isEnding = true
                    } else {
                        subscriber.buffer.append(.changes(revision, changes))
                    }
                }
                if let waiter = subscriber.waiter, !subscriber.buffer.isEmpty {
                    subscriber.waiter = nil
                    wakeups.append((waiter, subscriber.buffer.removeFirst()))
                }
                state.subscribers[id] = subscriber
            }
            return wakeups
        }
        // Resume outside the lock: a resumed task may run at once and call back into the feed.
        for (waiter, event) in wakeups { waiter.resume(returning: event) }
    }

    /// The state jumped to `revision` without changes to publish (a Raft snapshot was
    /// installed): every subscriber is told to resync from it and the ring starts over.
    public func reset(at revision: Revision) {
        let wakeups: [(CheckedContinuation<FeedEvent?, Never>, FeedEvent?)] = state.withLock { state in
            precondition(revision >= state.latest, "reset to \(revision) after \(state.latest)")
            state.latest = revision
            state.floor = revision
            state.ring.removeAll()
            var wakeups: [(CheckedContinuation<FeedEvent?, Never>, FeedEvent?)] = []
            for id in state.subscribers.keys.sorted() {
                guard var subscriber = state.subscribers[id], !subscriber.isEnding else { continue }
                subscriber.buffer = [.resync(atRevision: revision)]
                subscriber.isEnding = true
                if let waiter = subscriber.waiter {
                    subscriber.waiter = nil
                    wakeups.append((waiter, subscriber.buffer.removeFirst()))
                }
                state.subscribers[id] = subscriber
            }
            return wakeups
        }
        for (waiter, event) in wakeups { waiter.resume(returning: event) }
    }

    /// A stream of every batch published after `revision`, in order, starting with the ones
    /// still in the ring. If `revision` is older than the ring keeps, the stream holds a single
    /// `.resync(atRevision:)`.
    public func subscribe(from revision: Revision) -> Subscription {
        let id: UInt64 = state.withLock { state in
            let id = state.nextSubscriberID
            state.nextSubscriberID += 1
            var subscriber = Subscriber(after: revision)
            if revision < state.floor {
                subscriber.buffer = [.resync(atRevision: state.latest)]
                subscriber.isEnding = true
            } else {
                let backlog = state.ring.filter { $0.revision > revision }
                if backlog.count > bufferCapacity {
                    subscriber.buffer = [.resync(atRevision: state.latest)]
                    subscriber.isEnding = true
                } else {
                    subscriber.buffer = backlog.map { .changes($0.revision, $0.changes) }
                }
            }
            state.subscribers[id] = subscriber
            return id
        }
        return Subscription(feed: self, id: id)
    }

    // MARK: - Subscriber side

    /// The next event for subscriber `id`, waiting if none is buffered; nil once its stream has
    /// ended (after a resync, or when cancelled).
    func next(for id: UInt64) async -> FeedEvent? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<FeedEvent?, Never>) in
                let ready: FeedEvent?? = state.withLock { state in
                    guard var subscriber = state.subscribers[id], !Task.isCancelled else {
                        state.subscribers[id] = nil
                        return .some(nil)
                    }
                    if !subscriber.buffer.isEmpty {
                        let event = subscriber.buffer.removeFirst()
                        state.subscribers[id] = subscriber
                        return .some(event)
                    }
                    if subscriber.isEnding {
                        state.subscribers[id] = nil
                        return .some(nil)
                    }
                    precondition(subscriber.waiter == nil, "one subscription iterated from two tasks")
                    subscriber.waiter = continuation
                    state.subscribers[id] = subscriber
                    return .none
                }
                if case .some(let event) = ready { continuation.resume(returning: event) }
            }
        } onCancel: {
            cancel(id)
        }
    }

    /// Drops subscriber `id`, ending a pending `next` with nil.
    func cancel(_ id: UInt64) {
        let waiter = state.withLock { state in state.subscribers.removeValue(forKey: id)?.waiter }
        waiter?.resume(returning: nil)
    }
}

/// The lock-protected part of the feed.
struct FeedState: ~Copyable {
    /// Subscribers resuming from a revision below this cannot catch up: the batches after it
    /// were evicted from the ring.
    var floor: Revision
    var latest: Revision
    var ring: [(revision: Revision, changes: [Change])] = []
    var subscribers: [UInt64: Subscriber] = [:]
    var nextSubscriberID: UInt64 = 0

    init(floor: Revision, latest: Revision) {
        self.floor = floor
        self.latest = latest
    }
}

struct Subscriber {
    /// Only batches after this revision are delivered.
    var after: Revision
    var buffer: [FeedEvent] = []
    /// Set once a resync is queued: nothing more is buffered and the stream ends after it.
    var isEnding = false
    var waiter: CheckedContinuation<FeedEvent?, Never>?

    init(after: Revision) { self.after = after }
}
