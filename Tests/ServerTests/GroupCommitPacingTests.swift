import Consensus
import Foundation
@testable import Server
import Testing

@Suite("Group commit pacing")
struct GroupCommitPacingTests {
    let pacing = GroupCommitPacing(maximum: .milliseconds(2), step: .microseconds(250), siblings: 4, batch: 64)

    @Test("a pass after a quiet one never waits: a lone writer pays no delay")
    func quietPassDoesNotWait() {
        #expect(!pacing.shouldWait(previousPass: 0, queued: 1, queuedAtLastLook: nil, waited: .zero))
        #expect(!pacing.shouldWait(previousPass: 3, queued: 3, queuedAtLastLook: nil, waited: .zero))
        #expect(!GroupCommitPacing.off.shouldWait(previousPass: 100, queued: 10, queuedAtLastLook: nil, waited: .zero))
    }

    @Test("after a busy pass it waits while proposals keep arriving")
    func busyPassWaits() {
        #expect(pacing.shouldWait(previousPass: 4, queued: 1, queuedAtLastLook: nil, waited: .zero))
        #expect(pacing.shouldWait(previousPass: 40, queued: 12, queuedAtLastLook: 5, waited: .microseconds(250)))
    }

    @Test("the wait ends with nothing queued, a step that brought nothing, a full batch, or the maximum")
    func waitEnds() {
        #expect(!pacing.shouldWait(previousPass: 40, queued: 0, queuedAtLastLook: nil, waited: .zero))
        #expect(!pacing.shouldWait(previousPass: 40, queued: 5, queuedAtLastLook: 5, waited: .microseconds(250)))
        #expect(!pacing.shouldWait(previousPass: 40, queued: 64, queuedAtLastLook: 30, waited: .microseconds(250)))
        #expect(!pacing.shouldWait(previousPass: 40, queued: 20, queuedAtLastLook: 10, waited: .microseconds(1_750) + .microseconds(1)))
        #expect(pacing.shouldWait(previousPass: 40, queued: 20, queuedAtLastLook: 10, waited: .microseconds(1_750)))
    }

    @Test("through the driver: sequential proposals are not held back even with a long pacing step")
    func loneWriterThroughDriver() async throws {
        let directory = ProjectionApplierTests.temporaryDirectory("pacing")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = LogDriverTests.settings()
        settings.groupCommit = GroupCommitPacing(maximum: .seconds(20), step: .seconds(1), siblings: 2, batch: 1_000)
        let elapsed = try await LogDriverTests.withDriver(directory: directory, settings: settings) { driver in
            let started = ContinuousClock.now
            for value in 0..<20 { _ = try await driver.propose([UInt8(value)]) }
            return ContinuousClock.now - started
        }
        // Held back even once, a proposal would take a whole second.
        #expect(elapsed < .seconds(1))
    }

    @Test("through the driver: a burst under a long pacing step is still acknowledged in full")
    func burstThroughDriver() async throws {
        let directory = ProjectionApplierTests.temporaryDirectory("pacing")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = LogDriverTests.settings()
        settings.groupCommit = GroupCommitPacing(maximum: .milliseconds(200), step: .milliseconds(50), siblings: 2, batch: 1_000)
        let indexes = try await LogDriverTests.withDriver(directory: directory, settings: settings) { driver in
            try await withThrowingTaskGroup(of: Consensus.LogIndex.self) { group in
                for wave in 0..<3 {
                    for value in 0..<50 { group.addTask { try await driver.propose([UInt8(wave), UInt8(value)]).index } }
                    try await Task.sleep(for: .milliseconds(20))
                }
                return try await group.reduce(into: [Consensus.LogIndex]()) { $0.append($1) }
            }
        }
        #expect(Set(indexes).count == 150)
    }
}
