import ChangeFeed
import IdentityModel
import Projections
import SPIFFE
import Testing

@Suite("ChangeFeed")
struct ChangeFeedTests {
    static func change(_ n: Int) -> [Change] {
        [.clusterMemberRemoved(try! NodeName("s\(n)"))]
    }

    /// Reads `count` events, failing rather than hanging if the stream ends early.
    static func take(_ count: Int, from subscription: Subscription) async -> [FeedEvent] {
        var events: [FeedEvent] = []
        var iterator = subscription.makeAsyncIterator()
        while events.count < count, let event = await iterator.next() { events.append(event) }
        return events
    }

    @Test("subscribers receive batches in publish order")
    func ordering() async {
        let feed = ChangeFeed()
        let subscription = feed.subscribe(from: .zero)
        for n in 1...5 { feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n)) }
        let events = await Self.take(5, from: subscription)
        #expect(events == (1...5).map { .changes(LogIndex(UInt64($0)), Self.change($0)) })
    }

    @Test("a waiting subscriber is woken by publish")
    func wakeup() async {
        let feed = ChangeFeed()
        let subscription = feed.subscribe(from: .zero)
        async let received = Self.take(2, from: subscription)
        for n in 1...2 {
            try? await Task.sleep(for: .milliseconds(20))
            feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n))
        }
        #expect(await received == [.changes(LogIndex(1), Self.change(1)), .changes(LogIndex(2), Self.change(2))])
    }

    @Test("empty batches advance the revision but are not delivered")
    func emptyBatches() async {
        let feed = ChangeFeed()
        let subscription = feed.subscribe(from: .zero)
        feed.publish(revision: LogIndex(1), changes: [])
        feed.publish(revision: LogIndex(2), changes: Self.change(2))
        #expect(feed.latestRevision == LogIndex(2))
        #expect(await Self.take(1, from: subscription) == [.changes(LogIndex(2), Self.change(2))])
    }

    @Test("resuming from a recent revision catches up from the ring, then continues live")
    func resume() async {
        let feed = ChangeFeed(ringCapacity: 8)
        for n in 1...6 { feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n)) }
        let subscription = feed.subscribe(from: LogIndex(3))
        feed.publish(revision: LogIndex(7), changes: Self.change(7))
        let events = await Self.take(4, from: subscription)
        #expect(events == (4...7).map { .changes(LogIndex(UInt64($0)), Self.change($0)) })
    }

    @Test("resuming from before the ring gets one resync and the stream ends")
    func tooOld() async {
        let feed = ChangeFeed(ringCapacity: 3)
        for n in 1...6 { feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n)) }
        // Batches 4…6 are kept; 3 is the oldest revision a subscriber can resume from.
        #expect(await Self.take(10, from: feed.subscribe(from: LogIndex(2))) == [.resync(atRevision: LogIndex(6))])
        #expect(await Self.take(3, from: feed.subscribe(from: LogIndex(3))).count == 3)
    }

    @Test("a feed starting at a restored revision refuses older subscribers")
    func startingRevision() async {
        let feed = ChangeFeed(startingAfter: LogIndex(100))
        #expect(await Self.take(10, from: feed.subscribe(from: LogIndex(99))) == [.resync(atRevision: LogIndex(100))])
        let current = feed.subscribe(from: LogIndex(100))
        feed.publish(revision: LogIndex(101), changes: Self.change(1))
        #expect(await Self.take(1, from: current) == [.changes(LogIndex(101), Self.change(1))])
    }

    @Test("a slow subscriber overflows into a single resync; publish never blocks; others are unaffected")
    func overflow() async {
        let feed = ChangeFeed(ringCapacity: 64, bufferCapacity: 4)
        let slow = feed.subscribe(from: .zero)
        let fast = feed.subscribe(from: .zero)
        var fastIterator = fast.makeAsyncIterator()
        var fastEvents: [FeedEvent] = []
        for n in 1...10 {
            feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n))
            if let event = await fastIterator.next() { fastEvents.append(event) }
        }
        #expect(fastEvents.count == 10)
        // The slow one never read: its buffer of 4 filled at revision 5.
        #expect(await Self.take(10, from: slow) == [.resync(atRevision: LogIndex(5))])
    }

    @Test("a backlog larger than the buffer resyncs at once")
    func backlogOverflow() async {
        let feed = ChangeFeed(ringCapacity: 64, bufferCapacity: 4)
        for n in 1...10 { feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n)) }
        #expect(await Self.take(10, from: feed.subscribe(from: .zero)) == [.resync(atRevision: LogIndex(10))])
    }

    @Test("cancelling the consuming task ends its stream and unsubscribes")
    func cancellation() async {
        let feed = ChangeFeed()
        let subscription = feed.subscribe(from: .zero)
        let task = Task { await Self.take(1, from: subscription) }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value == [])
        #expect(feed.subscriberCount == 0)
        feed.publish(revision: LogIndex(1), changes: Self.change(1))
    }

    @Test("dropping a subscription unsubscribes")
    func dropping() {
        let feed = ChangeFeed()
        do {
            let subscription = feed.subscribe(from: .zero)
            withExtendedLifetime(subscription) { #expect(feed.subscriberCount == 1) }
        }
        #expect(feed.subscriberCount == 0)
    }

    @Test("many concurrent subscribers each see every batch in order")
    func concurrent() async {
        let feed = ChangeFeed(ringCapacity: 256, bufferCapacity: 256)
        let subscriptions = (0..<8).map { _ in feed.subscribe(from: .zero) }
        await withTaskGroup(of: [FeedEvent].self) { group in
            for subscription in subscriptions { group.addTask { await Self.take(100, from: subscription) } }
            for n in 1...100 { feed.publish(revision: LogIndex(UInt64(n)), changes: Self.change(n)) }
            for await events in group {
                #expect(events == (1...100).map { .changes(LogIndex(UInt64($0)), Self.change($0)) })
            }
        }
    }

    @Test("publishing a revision that does not move forward is a broken invariant")
    func revisionsIncrease() async {
        await #expect(processExitsWith: .failure) {
            let feed = ChangeFeed()
            feed.publish(revision: LogIndex(2), changes: [])
            feed.publish(revision: LogIndex(2), changes: [])
        }
    }
}
