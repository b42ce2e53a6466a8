/// One subscriber's view of a `ChangeFeed`: an `AsyncSequence` of `FeedEvent`s that ends after
/// a `.resync`, when its task is cancelled, or when it is dropped.
///
/// Iterate it from one task. Dropping the subscription (and its iterator) unsubscribes, so a
/// stream handler that returns early leaves nothing behind in the feed.
public struct Subscription: AsyncSequence, Sendable {
    public typealias Element = FeedEvent
    public typealias Failure = Never

    let handle: Handle

    init(feed: ChangeFeed, id: UInt64) {
        self.handle = Handle(feed: feed, id: id)
    }

    public func makeAsyncIterator() -> Iterator { Iterator(handle: handle) }

    public struct Iterator: AsyncIteratorProtocol {
        let handle: Handle

        public mutating func next() async -> FeedEvent? {
            await handle.feed.next(for: handle.id)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> FeedEvent? {
            await handle.feed.next(for: handle.id)
        }
    }

    /// Removes the subscriber from the feed when the last copy of the subscription goes away.
    final class Handle: Sendable {
        let feed: ChangeFeed
        let id: UInt64

        init(feed: ChangeFeed, id: UInt64) {
            self.feed = feed
            self.id = id
        }

        deinit { feed.cancel(id) }
    }
}
