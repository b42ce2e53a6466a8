import Consensus
import ConsensusSimulation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Replays simulator seeds: `lineage-raft-sim --seed 7`, `--seeds 0..499`, `--steps 3000`,
// `--nodes 5`, `--mutation grantTwoVotesPerTerm`. Exits 1 if any seed violates a checker.

let usage = """
    usage: lineage-raft-sim (--seed N | --seeds A..B) [--steps N] [--nodes N] [--mutation NAME]
           [--membership PROBABILITY] [--trace STEPS] [--quiet]
    mutations: \(TestingMutations.all.map(\.0).joined(separator: ", "))
    """

func fail(_ text: String) -> Never {
    print(text)
    exit(2)
}

var seeds: ClosedRange<UInt64> = 0...0
var safetySteps: Int?
var nodeCount: Int?
var mutations: TestingMutations = []
var quiet = false
var traceInterval: Int?
var membershipChangeProbability: Double?
var arguments = CommandLine.arguments.dropFirst()
while let flag = arguments.popFirst() {
    switch flag {
    case "--seed":
        guard let seed = arguments.popFirst().flatMap({ UInt64($0) }) else { fail(usage) }
        seeds = seed...seed
    case "--seeds":
        let parts = (arguments.popFirst() ?? "").split(separator: ".", omittingEmptySubsequences: true)
        guard parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]), low <= high
        else { fail(usage) }
        seeds = low...high
    case "--steps":
        guard let steps = arguments.popFirst().flatMap({ Int($0) }), steps >= 0 else { fail(usage) }
        safetySteps = steps
    case "--nodes":
        guard let count = arguments.popFirst().flatMap({ Int($0) }), count >= 1 else { fail(usage) }
        nodeCount = count
    case "--mutation":
        let name = arguments.popFirst() ?? ""
        guard let mutation = TestingMutations.all.first(where: { $0.0 == name })?.1 else { fail(usage) }
        mutations.insert(mutation)
    case "--trace":
        traceInterval = arguments.popFirst().flatMap { Int($0) }
    case "--membership":
        membershipChangeProbability = arguments.popFirst().flatMap { Double($0) }
    case "--quiet":
        quiet = true
    default:
        fail(usage)
    }
}

var failures = 0
for seed in seeds {
    var options = SeedRunner.options(
        seed: seed, nodeCount: nodeCount, safetySteps: safetySteps, mutations: mutations)
    if let membershipChangeProbability {
        options.membershipChangeProbability = membershipChangeProbability
        options.spareNodeCount = 2
    }
    let result = SeedRunner.run(options, traceInterval: traceInterval)
    if !result.passed { failures += 1 }
    if !quiet || !result.passed { print(result) }
}
print("\(seeds.count) seeds, \(failures) failed")
exit(failures == 0 ? 0 : 1)
