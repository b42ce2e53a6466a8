import Testing

@testable import Server

@Suite("Wake signal")
struct WakeSignalTests {
    @Test("signals before a wait coalesce into one wake-up")
    func coalesces() async {
        let signal = WakeSignal()
        signal.signal()
        signal.signal()
        #expect(await signal.wait())
        // The second signal was absorbed by the first: a wait now blocks until the next one.
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        signal.signal()
        #expect(await waiter.value)
    }

    @Test("a cancelled wait returns false and later waits still wake (an AsyncStream would have ended)")
    func cancellationEndsOnlyThatWait() async {
        let signal = WakeSignal()
        let cancelled = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == false)
        // Cancelled before it waited: false at once, nothing consumed.
        signal.signal()
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await signal.wait()
        }
        #expect(await early.value == false)
        #expect(await signal.wait(), "the signal made before the cancelled wait is still pending")
    }

    @Test("close ends the current wait and every later one")
    func closeEndsWaits() async {
        let signal = WakeSignal()
        let waiter = Task { await signal.wait() }
        try? await Task.sleep(for: .milliseconds(50))
        signal.close()
        #expect(await waiter.value == false)
        signal.signal()
        #expect(await signal.wait() == false)
    }
}
