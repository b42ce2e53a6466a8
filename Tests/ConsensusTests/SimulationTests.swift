import Testing
import Consensus
@testable import ConsensusSimulation

@Suite("Deterministic simulation")
struct SimulationTests {
    /// The CI seed set: 200 seeds in chunks so Swift Testing can run them in parallel. Node
    /// counts follow `SeedRunner.nodeCount(forSeed:)` (1, 3 and 5 nodes).
    static let seedChunks: [ClosedRange<UInt64>] = stride(from: 0, to: 200, by: 20).map {
        UInt64($0)...UInt64($0 + 19)
    }

    @Test("CI seeds pass every checker", arguments: seedChunks)
    func ciSeeds(seeds: ClosedRange<UInt64>) async {
        for seed in seeds {
            // Each seed is seconds of CPU: yield between seeds so a 2-core machine's two
            // cooperative threads are not held away from the async tests running beside these.
            await Task.yield()
            let result = SeedRunner.run(SeedRunner.options(seed: seed))
            #expect(result.passed, "\(result)")
        }
    }

    @Test("A seed replays exactly")
    func deterministicReplay() {
        let options = SeedRunner.options(seed: 7, mutations: .grantTwoVotesPerTerm)
        let first = SeedRunner.run(options)
        let second = SeedRunner.run(options)
        #expect(first.statistics == second.statistics)
        #expect(first.violation == second.violation)
        let clean = SeedRunner.run(SeedRunner.options(seed: 7))
        #expect(clean.statistics == SeedRunner.run(SeedRunner.options(seed: 7)).statistics)
    }

    @Test("Swarm settings vary by seed and the faults are exercised")
    func faultsAreExercised() async {
        var totals = SimulationStatistics()
        for seed: UInt64 in 3..<13 {
            await Task.yield()
            let statistics = SeedRunner.run(SeedRunner.options(seed: seed)).statistics!
            totals.crashes += statistics.crashes
            totals.snapshotsInstalled += statistics.snapshotsInstalled
            totals.readsServed += statistics.readsServed
            totals.acknowledgedRequests += statistics.acknowledgedRequests
        }
        #expect(totals.crashes > 0)
        #expect(totals.snapshotsInstalled > 0)
        #expect(totals.readsServed > 0)
        #expect(totals.acknowledgedRequests > 100)
    }

    struct MutationCase: Sendable, CustomTestStringConvertible {
        var mutation: TestingMutations
        var caughtBy: Set<Violation.Kind>
        var testDescription: String { mutation.description }
    }

    static let mutationCases: [MutationCase] = [
        MutationCase(mutation: .grantTwoVotesPerTerm, caughtBy: [.electionSafety]),
        MutationCase(mutation: .skipVotePersistence, caughtBy: [.electionSafety]),
        MutationCase(mutation: .readIndexWithoutQuorum, caughtBy: [.staleRead]),
        MutationCase(
            mutation: .truncateOnStaleAppend,
            caughtBy: [.logMismatch, .lostAcknowledgement, .stateDivergence, .liveness]),
    ]

    @Test("The checkers catch each purpose-broken variant", arguments: mutationCases)
    func checkersCatchMutation(_ testCase: MutationCase) async {
        var caught: SeedResult?
        for seed: UInt64 in 0..<120 {
            await Task.yield()
            let result = SeedRunner.run(SeedRunner.options(seed: seed, mutations: testCase.mutation))
            if !result.passed {
                caught = result
                break
            }
        }
        #expect(caught != nil, "no seed caught \(testCase.mutation)")
        if let violation = caught?.violation {
            #expect(testCase.caughtBy.contains(violation.kind), "\(violation)")
        }
    }
}
