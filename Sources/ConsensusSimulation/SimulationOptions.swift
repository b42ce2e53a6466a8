import Consensus

/// Fault and workload settings for one simulated run. `swarm(seed:nodeCount:)` picks them at
/// random per seed (swarm testing): some seeds get heavy loss, some none, some constant
/// partitions, so different bugs find the conditions they need.
public struct SimulationOptions: Sendable, Hashable, CustomStringConvertible {
    public var seed: UInt64
    public var nodeCount: Int
    /// Steps (ticks) of the safety phase, with faults on.
    public var safetySteps: Int
    /// The most steps the liveness phase may take to converge once faults are healed.
    public var livenessStepsMax: Int
    public var electionTimeoutTicks: Int
    public var packetLossProbability: Double
    public var packetDuplicationProbability: Double
    /// Delivery delay is uniform in this range; a wide range reorders messages.
    public var delayTicksMin: Int
    public var delayTicksMax: Int
    /// Per step: the chance the partition changes (to a new random one or healed).
    public var partitionChangeProbability: Double
    /// Per step: the chance one running node crashes, and one crashed node restarts.
    public var crashProbability: Double
    public var restartProbability: Double
    /// When a node crashes while handling a Ready, it has persisted but sent nothing.
    public var crashDuringReadyProbability: Double
    /// BUGGIFY-style fault point: right after a node sends a vote, crash it and restart it
    /// a few steps later (the window where an unpersisted vote would be forgotten).
    public var crashAfterVoteProbability: Double
    /// Run pre-vote and check-quorum; some seeds turn them off for more election churn.
    public var preVoteAndCheckQuorum: Bool
    /// Servers that start outside the cluster and may be added as voters (IDs never reused).
    public var spareNodeCount: Int
    /// Per step: the chance the leader is asked to add a spare or remove a voter.
    public var membershipChangeProbability: Double
    public var clientCount: Int
    /// Per step and idle client: the chance to issue a new request.
    public var requestProbability: Double
    /// Steps a client waits for an answer before retrying the same request elsewhere.
    public var clientTimeoutSteps: Int
    /// Per step and idle client: the chance to issue a ReadIndex read.
    public var readProbability: Double
    /// A node snapshots and compacts its log after applying this many entries.
    public var compactionIntervalEntries: Int
    /// The most entries per append message; small values split catch-up into many messages.
    public var appendBatchEntriesMax: Int
    public var mutations: TestingMutations

    public init(seed: UInt64, nodeCount: Int) {
        self.seed = seed
        self.nodeCount = nodeCount
        safetySteps = 1_500
        livenessStepsMax = 1_500
        electionTimeoutTicks = 10
        packetLossProbability = 0
        packetDuplicationProbability = 0
        delayTicksMin = 1
        delayTicksMax = 1
        partitionChangeProbability = 0
        crashProbability = 0
        restartProbability = 0.05
        crashDuringReadyProbability = 0
        crashAfterVoteProbability = 0
        preVoteAndCheckQuorum = true
        spareNodeCount = 0
        membershipChangeProbability = 0
        clientCount = 3
        requestProbability = 0.2
        clientTimeoutSteps = 60
        readProbability = 0.02
        compactionIntervalEntries = 40
        appendBatchEntriesMax = Limits.appendBatchEntriesMax
        mutations = []
    }

    /// Chooses fault settings from the seed. Each fault is switched off entirely in some runs.
    public static func swarm(seed: UInt64, nodeCount: Int) -> SimulationOptions {
        var random = SimulationRandom(seed: seed ^ 0x5357_4152_4D00_0000)
        var options = SimulationOptions(seed: seed, nodeCount: nodeCount)
        func maybe(_ value: Double, _ random: inout SimulationRandom) -> Double {
            random.chance(0.3) ? 0 : Double.random(in: 0...value, using: &random)
        }
        options.packetLossProbability = maybe(0.25, &random)
        options.packetDuplicationProbability = maybe(0.1, &random)
        options.delayTicksMax = [1, 2, 4, 8].randomElement(using: &random)!
        options.partitionChangeProbability = maybe(0.05, &random)
        options.crashProbability = maybe(0.02, &random)
        options.restartProbability = Double.random(in: 0.01...0.2, using: &random)
        options.crashDuringReadyProbability = maybe(0.2, &random)
        options.crashAfterVoteProbability = maybe(0.8, &random)
        options.preVoteAndCheckQuorum = random.chance(0.7)
        options.spareNodeCount = Int.random(in: 0...2, using: &random)
        options.membershipChangeProbability = maybe(0.02, &random)
        options.clientCount = Int.random(in: 1...6, using: &random)
        options.requestProbability = Double.random(in: 0.05...0.5, using: &random)
        options.readProbability = maybe(0.1, &random)
        options.compactionIntervalEntries = [8, 32, 128, 100_000].randomElement(using: &random)!
        options.appendBatchEntriesMax = [1, 2, 8, Limits.appendBatchEntriesMax].randomElement(using: &random)!
        return options
    }

    public var description: String {
        func percent(_ value: Double) -> String { "\(Double(Int((value * 1000).rounded())) / 10)%" }
        return "nodes=\(nodeCount) loss=\(percent(packetLossProbability))"
            + " dup=\(percent(packetDuplicationProbability)) delay=\(delayTicksMin)-\(delayTicksMax)"
            + " partition=\(percent(partitionChangeProbability)) crash=\(percent(crashProbability))"
            + " voteCrash=\(percent(crashAfterVoteProbability)) preVote=\(preVoteAndCheckQuorum)"
            + " spares=\(spareNodeCount) membership=\(percent(membershipChangeProbability))"
            + " clients=\(clientCount) compact=\(compactionIntervalEntries) batch=\(appendBatchEntriesMax)"
            + " mutations=\(mutations)"
    }
}
