import Consensus

/// A deterministic N-node Raft cluster in one process, driven from a seed (TigerBeetle's VOPR
/// style). A safety phase with swarm-chosen faults is followed by a liveness phase in which
/// faults are healed and the cluster must converge within a step bound. Checkers run after
/// every step; the first violation ends the run.
public struct Simulation<Machine: StateMachine> {
    public let options: SimulationOptions
    var random: SimulationRandom
    var nodes: [SimulatedNode<Machine>]
    var network = Network()
    var clients: [SimulatedClient] = []
    var checker = SafetyChecker()
    var now = 0
    var inLivenessPhase = false
    var nextReadContext: UInt64 = 1
    /// Requests a client saw succeed, with the index where each took effect.
    var acknowledged: [RequestID: LogIndex] = [:]
    var acknowledgedIndexMax: LogIndex = 0
    /// Servers whose removal some replica has applied.
    var removedNodes: Set<NodeID> = []
    public internal(set) var statistics = SimulationStatistics()

    public init(options: SimulationOptions) {
        precondition(options.nodeCount >= 1 && options.nodeCount <= Limits.votersMax)
        self.options = options
        random = SimulationRandom(seed: options.seed)
        // Every server, spares included, boots with the initial voters: replaying the log (or
        // a snapshot) brings a joining server to the current configuration.
        let voters = (1...options.nodeCount).map { NodeID($0) }
        let spares = (0..<options.spareNodeCount).map { NodeID(options.nodeCount + 1 + $0) }
        nodes = voters.map { SimulatedNode(id: $0, voters: voters, lifecycle: .active) }
            + spares.map { SimulatedNode(id: $0, voters: voters, lifecycle: .spare) }
        clients = (0..<options.clientCount).map { SimulatedClient(id: UInt64($0) + 1) }
    }

    var nodeIDs: [NodeID] { nodes.map(\.id) }

    func settings(for id: NodeID) -> RaftConfiguration {
        RaftConfiguration(
            id: id, electionTimeoutTicks: options.electionTimeoutTicks + 2 * options.delayTicksMax,
            heartbeatIntervalTicks: 2, preVote: options.preVoteAndCheckQuorum,
            checkQuorum: options.preVoteAndCheckQuorum, appendBatchEntriesMax: options.appendBatchEntriesMax,
            testingMutations: options.mutations)
    }

    /// Runs both phases. Returns the statistics, or throws the first violation.
    public mutating func run() throws(Violation) -> SimulationStatistics {
        for position in nodes.indices where nodes[position].lifecycle == .active {
            try startNode(at: position)
        }
        for _ in 0..<options.safetySteps {
            try step()
        }
        try runLivenessPhase()
        statistics.steps = now
        return statistics
    }

    mutating func step() throws(Violation) {
        now += 1
        if !inLivenessPhase { try injectFaults() }
        try deliverPackets()
        for position in nodes.indices where nodes[position].isRunning {
            nodes[position].raft!.tick()
        }
        try driveClients()
        try processReadies()
        try checker.checkRoles(nodes, step: now)
        if let interval = traceInterval, now % interval == 0 { print("[\(now)] \(convergenceReport())") }
    }
    public var traceInterval: Int?

    mutating func startNode(at position: Int) throws(Violation) {
        let id = nodes[position].id
        do {
            try nodes[position].start(settings: settings(for: id), random: random.split())
        } catch {
            throw Violation(kind: .stateDivergence, step: now, detail: "node \(id) snapshot: \(error)")
        }
    }

    mutating func deliverPackets() throws(Violation) {
        for packet in network.takeDue(now: now, random: &random) {
            let message: Message
            do {
                message = try Message(decoding: packet.bytes)
            } catch {
                preconditionFailure("codec failed to round-trip a message: \(error)")
            }
            guard let position = nodes.firstIndex(where: { $0.id == packet.to }),
                  nodes[position].isRunning else { continue }
            nodes[position].raft!.step(message)
        }
    }

    // MARK: - Ready handling

    mutating func processReadies() throws(Violation) {
        // Each round may produce more work (an apply enables a proposal, and so on); a handful
        // of rounds drains it, and the bound keeps a livelock from hanging the run.
        for _ in 0..<8 {
            var didWork = false
            for position in nodes.indices where nodes[position].isRunning {
                if try handleReady(at: position) { didWork = true }
            }
            if !didWork { return }
        }
    }

    /// Carries out one Ready in the documented order: persist, send, apply, advance.
    mutating func handleReady(at position: Int) throws(Violation) -> Bool {
        let node = nodes[position]
        // `hasReady` is much cheaper than building an empty Ready.
        guard node.raft?.hasReady == true, let ready = node.raft!.ready() else { return false }
        persist(ready, at: position)
        if !inLivenessPhase && random.chance(options.crashDuringReadyProbability * options.crashProbability) {
            // Power cut after the write but before any message left the machine.
            crashNode(at: position)
            return true
        }
        for message in ready.messages {
            network.send(message, now: now, options: effectiveOptions, random: &random)
        }
        if !inLivenessPhase, ready.messages.contains(where: { $0.kind == .voteResponse && !$0.reject }),
           random.chance(options.crashAfterVoteProbability) {
            crashNode(at: position)
            nodes[position].restartAtStep = now + 1
            return true
        }
        if let snapshot = ready.snapshot { try restoreSnapshot(snapshot, at: position) }
        for entry in ready.committedEntries { try apply(entry, at: position) }
        nodes[position].readsAwaitingApply.append(contentsOf: ready.readStates)
        let appliedBefore = node.raft!.appliedConfiguration
        node.raft!.advance(ready)
        // A committed removal is permanent (IDs are never reused). An operator shuts a removed
        // server down once it has applied its own removal and handed off any leadership.
        let appliedAfter = node.raft!.appliedConfiguration
        for removed in Set(appliedBefore.voters).subtracting(appliedAfter.voters) {
            removedNodes.insert(removed)
            if removed != node.id { decommission(removed) }
        }
        // A removed leader first hands over; it is shut down once it has stepped down.
        if removedNodes.contains(node.id) && node.raft!.role != .leader {
            decommission(node.id)
            return true
        }
        try serveReads(at: position)
        try compactIfDue(at: position)
        return true
    }

    /// In the liveness phase the network is healed: no loss and no duplication.
    var effectiveOptions: SimulationOptions {
        guard inLivenessPhase else { return options }
        var healed = options
        healed.packetLossProbability = 0
        healed.packetDuplicationProbability = 0
        return healed
    }

    func persist(_ ready: Ready, at position: Int) {
        let node = nodes[position]
        if let snapshot = ready.snapshot { node.disk.applySnapshot(snapshot) }
        node.disk.append(ready.entries)
        guard let hardState = ready.hardState else { return }
        if ready.mustSync {
            node.disk.setHardState(hardState)
            nodes[position].unsyncedHardState = nil
        } else {
            nodes[position].unsyncedHardState = hardState
        }
    }

    mutating func restoreSnapshot(_ snapshot: Snapshot, at position: Int) throws(Violation) {
        do {
            nodes[position].state = try ReplicatedState(
                snapshot: snapshot.data, at: snapshot.metadata.index)
        } catch {
            throw Violation(kind: .stateDivergence, step: now, detail: "bad snapshot: \(error)")
        }
        statistics.snapshotsInstalled += 1
        try checker.checkSnapshot(snapshot, digest: nodes[position].state.digest, step: now)
    }

    mutating func apply(_ entry: Entry, at position: Int) throws(Violation) {
        try checker.checkApplied(entry, step: now)
        let outcome = nodes[position].state.apply(entry)
        try checker.checkDigest(
            index: entry.index, digest: nodes[position].state.digest, step: now)
        switch outcome {
        case .applied:
            try checker.recordEffect(of: entry, step: now)
            acknowledge(entry.requestID, at: entry.index, by: nodes[position].id)
        case .duplicate(let index):
            acknowledge(entry.requestID, at: index, by: nodes[position].id)
        case .notACommand:
            break
        }
    }

    mutating func compactIfDue(at position: Int) throws(Violation) {
        let node = nodes[position]
        guard let raft = node.raft else { return }
        let applied = node.state.appliedIndex
        let snapshotIndex = node.disk.currentSnapshot.metadata.index
        guard applied >= snapshotIndex + LogIndex(options.compactionIntervalEntries) else { return }
        precondition(applied == raft.appliedIndex, "driver and node disagree on applied index")
        do {
            try node.disk.createSnapshot(
                at: applied, configuration: raft.appliedConfiguration, data: node.state.snapshot())
        } catch {
            preconditionFailure("compaction at \(applied) failed: \(error)")
        }
        statistics.compactions += 1
    }
}

/// Counters reported per seed, to show that the faults and features were exercised.
public struct SimulationStatistics: Sendable, Hashable, CustomStringConvertible {
    public var steps = 0
    public var committedIndex: LogIndex = 0
    public var acknowledgedRequests = 0
    public var readsServed = 0
    public var leadersElected = 0
    public var crashes = 0
    public var snapshotsInstalled = 0
    public var compactions = 0
    public var membershipChanges = 0

    public var description: String {
        "steps=\(steps) commit=\(committedIndex) acked=\(acknowledgedRequests)"
            + " reads=\(readsServed) leaders=\(leadersElected) crashes=\(crashes)"
            + " snapshots=\(snapshotsInstalled) compactions=\(compactions)"
            + " membership=\(membershipChanges)"
    }
}
