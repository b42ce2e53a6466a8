import Synchronization

/// A subscription to a provider's changes: a newest-only signal (at most one element buffered),
/// so a slow subscriber never makes the provider wait or grow a queue. Each element is the
/// provider's revision at the time of the change; subscribers re-read the state.
public struct IdentityChanges: AsyncSequence, Sendable {
    public typealias Element = UInt64
    public typealias Failure = Never

    private let stream: AsyncStream<UInt64>
    private let continuation: AsyncStream<UInt64>.Continuation

    init(stream: AsyncStream<UInt64>, continuation: AsyncStream<UInt64>.Continuation) {
        self.stream = stream
        self.continuation = continuation
    }

    public func makeAsyncIterator() -> AsyncStream<UInt64>.Iterator { stream.makeAsyncIterator() }

    /// Ends the subscription: a pending or later `next()` returns nil. Idempotent.
    public func finish() { continuation.finish() }
}

/// Fans one "state changed" signal out to many `IdentityChanges` subscribers, with a bounded
/// number of subscribers. Providers embed one.
public final class IdentityChangeBroadcaster: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<UInt64>.Continuation] = [:]
        var nextSubscriber: UInt64 = 0
        var revision: UInt64 = 0
    }

    private let state = Mutex(State())
    private let subscribersMax: Int

    public init(subscribersMax: Int = Limits.changeSubscribersMax) {
        precondition(subscribersMax > 0)
        self.subscribersMax = subscribersMax
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    public func subscribe() throws(IdentityProviderError) -> IdentityChanges {
        let (stream, continuation) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> UInt64? in
            guard state.subscribers.count < subscribersMax else { return nil }
            let id = state.nextSubscriber
            state.nextSubscriber += 1
            state.subscribers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            throw IdentityProviderError(.exhausted, "too many identity watchers (\(subscribersMax))")
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return IdentityChanges(stream: stream, continuation: continuation)
    }

    /// Signals every subscriber that the state changed.
    public func publish() {
        state.withLock { state in
            state.revision += 1
            for continuation in state.subscribers.values { continuation.yield(state.revision) }
        }
    }
}
