import Consensus

/// The outcome of simulating one seed.
public struct SeedResult: Sendable, CustomStringConvertible {
    public var options: SimulationOptions
    public var statistics: SimulationStatistics?
    public var violation: Violation?

    public var passed: Bool { violation == nil }

    public var description: String {
        let outcome = violation.map { "FAIL \($0)" } ?? "ok \(statistics!)"
        return "seed \(options.seed) [\(options)] \(outcome)"
    }
}

/// Runs seeds the same way for the test suite and the `lineage-raft-sim` command.
public enum SeedRunner {
    /// The cluster size for a seed: mostly three and five nodes, some single-node clusters.
    public static func nodeCount(forSeed seed: UInt64) -> Int {
        switch seed % 20 {
        case 0..<3: return 1
        case 3..<12: return 3
        default: return 5
        }
    }

    /// The options a seed gets: swarm-chosen faults, an optional safety-phase length, and any
    /// deliberate mutations.
    public static func options(
        seed: UInt64, nodeCount: Int? = nil, safetySteps: Int? = nil,
        mutations: TestingMutations = []
    ) -> SimulationOptions {
        var options = SimulationOptions.swarm(
            seed: seed, nodeCount: nodeCount ?? self.nodeCount(forSeed: seed))
        if let safetySteps { options.safetySteps = safetySteps }
        options.mutations = mutations
        return options
    }

    public static func run(_ options: SimulationOptions, traceInterval: Int? = nil) -> SeedResult {
        var simulation = Simulation<HashChainStateMachine>(options: options)
        simulation.traceInterval = traceInterval
        do {
            let statistics = try simulation.run()
            return SeedResult(options: options, statistics: statistics, violation: nil)
        } catch {
            return SeedResult(options: options, statistics: simulation.statistics, violation: error)
        }
    }
}
