import Foundation
import Testing

@testable import Server

@Suite("Dedicated thread executor")
struct DedicatedThreadExecutorTests {
    /// The thread a job runs on, by pthread identity.
    private static func currentThread() -> UInt { UInt(pthread_self()) }

    @Test("a task preferring it runs on its one thread, across suspensions, in the order enqueued")
    func runsOnItsThread() async throws {
        let executor = DedicatedThreadExecutor(name: "test-executor")
        defer { executor.stop() }
        let threads = try await withTaskExecutorPreference(executor) { () async throws -> Set<UInt> in
            var seen: Set<UInt> = [Self.currentThread()]
            for _ in 0..<20 {
                try await Task.sleep(for: .milliseconds(1))
                seen.insert(Self.currentThread())
            }
            // A child task inherits the preference.
            async let child = Self.currentThread()
            seen.insert(await child)
            return seen
        }
        #expect(threads.count == 1)
        #expect(threads.first != Self.currentThread())

        // Each child finishes as soon as it runs, so the completion order is the run order.
        let order = await withTaskExecutorPreference(executor) {
            await withTaskGroup(of: Int.self) { group -> [Int] in
                for index in 0..<50 { group.addTask { index } }
                var order: [Int] = []
                for await index in group { order.append(index) }
                return order
            }
        }
        #expect(order == Array(0..<50))
    }

    @Test("after stop, work that still prefers it runs on the shared pool instead of being lost")
    func stoppedExecutorHandsOver() async throws {
        let executor = DedicatedThreadExecutor(name: "test-executor-stopped")
        executor.stop()
        let value = try await withTaskExecutorPreference(executor) { () async throws -> Int in
            try await Task.sleep(for: .milliseconds(1))
            return 42
        }
        #expect(value == 42)
    }
}
