import Consensus

/// Fault injection for the safety phase: partitions of several shapes, crashes and restarts.
extension Simulation {
    mutating func injectFaults() throws(Violation) {
        if random.chance(options.partitionChangeProbability) { changePartition() }
        let running = nodes.indices.filter { nodes[$0].isRunning }
        if let victim = running.randomElement(using: &random), random.chance(options.crashProbability) {
            crashNode(at: victim)
        }
        if random.chance(options.membershipChangeProbability) { changeMembership() }
        for position in nodes.indices where !nodes[position].isRunning && nodes[position].lifecycle == .active {
            if let restartAt = nodes[position].restartAtStep, restartAt <= now {
                try startNode(at: position)
            }
        }
        let stopped = nodes.indices.filter { !nodes[$0].isRunning && nodes[$0].lifecycle == .active }
        if let revived = stopped.randomElement(using: &random), random.chance(options.restartProbability) {
            try startNode(at: revived)
        }
    }

    mutating func crashNode(at position: Int) {
        // NB: packets already in flight to the node stay in flight; one that arrives after
        // the restart models a delayed or retransmitted request reaching the new process.
        nodes[position].crash()
        statistics.crashes += 1
    }

    /// Asks the leader to add a spare server or remove a voter (never below three voters, so
    /// the known two-server deadlock stays out of the liveness phase).
    mutating func changeMembership() {
        guard let leader = nodes.firstIndex(where: { $0.raft?.role == .leader }) else { return }
        let voters = nodes[leader].raft!.configuration.voters
        let spare = nodes.firstIndex { $0.lifecycle == .spare }
        let change: ConfigurationChange
        if let spare, random.chance(0.5) || voters.count < 3 {
            change = ConfigurationChange(.addVoter, node: nodes[spare].id)
        } else if voters.count >= 3 {
            change = ConfigurationChange(.removeVoter, node: voters.randomElement(using: &random)!)
        } else {
            return
        }
        do {
            try nodes[leader].raft!.proposeConfigurationChange(change)
        } catch {
            return
        }
        statistics.membershipChanges += 1
        if change.kind == .addVoter, let spare {
            nodes[spare].lifecycle = .active
            try? nodes[spare].start(settings: settings(for: nodes[spare].id), random: random.split())
        }
    }

    mutating func decommission(_ id: NodeID) {
        guard let position = nodes.firstIndex(where: { $0.id == id }),
              nodes[position].lifecycle == .active else { return }
        nodes[position].crash()
        nodes[position].lifecycle = .decommissioned
    }

    /// Before the liveness phase the operator shuts down every server whose removal was
    /// committed, as one that never learned of its removal would otherwise keep campaigning.
    mutating func decommissionNonMembers() {
        for id in removedNodes { decommission(id) }
    }

    /// Picks a new partition shape, or heals the network.
    mutating func changePartition() {
        let ids = nodeIDs
        guard ids.count > 1 else { return }
        switch Int.random(in: 0..<5, using: &random) {
        case 0:
            network.heal()
        case 1:
            // A random split into two sides.
            let side = Set(ids.filter { _ in random.chance(0.5) })
            network.split(side, from: ids)
        case 2:
            // Isolate the current leader, the classic case for check-quorum and stale reads.
            let leader = nodes.first { $0.raft?.role == .leader }?.id ?? ids.randomElement(using: &random)!
            network.split([leader], from: ids)
        case 3:
            // Asymmetric: one node can send but not receive (or the reverse).
            network.heal()
            let node = ids.randomElement(using: &random)!
            let inbound = random.chance(0.5)
            for other in ids where other != node {
                if inbound { network.block(from: other, to: node) } else { network.block(from: node, to: other) }
            }
        default:
            // Flaky links: a few random one-way links go down.
            network.heal()
            for _ in 0..<Int.random(in: 1...ids.count, using: &random) {
                let from = ids.randomElement(using: &random)!
                let to = ids.randomElement(using: &random)!
                if from != to { network.block(from: from, to: to) }
            }
        }
    }

    /// Heals everything and requires convergence within `livenessStepsMax` steps: one leader
    /// that every node follows, all outstanding client requests acknowledged, and every node
    /// having applied the leader's whole log.
    mutating func runLivenessPhase() throws(Violation) {
        inLivenessPhase = true
        network.heal()
        decommissionNonMembers()
        for position in nodes.indices where !nodes[position].isRunning && nodes[position].lifecycle == .active {
            try startNode(at: position)
        }
        let deadline = now + options.livenessStepsMax
        while now < deadline {
            try step()
            if isConverged() {
                try checkConverged()
                return
            }
        }
        throw Violation(kind: .liveness, step: now, detail: "no convergence: \(convergenceReport())")
    }

    func isConverged() -> Bool {
        guard let leader = nodes.first(where: { $0.raft?.role == .leader })?.raft else { return false }
        let leaderCommitted = leader.commitIndex == leader.lastIndex
            && leader.hardState.commit > 0
        let members = members(of: leader)
        let followersCaughtUp = members.allSatisfy { node in
            guard let raft = node.raft else { return false }
            return raft.leader == leader.id && raft.term == leader.term
                && node.state.appliedIndex == leader.commitIndex
        }
        let clientsDone = clients.allSatisfy { $0.request == nil }
        return leaderCommitted && followersCaughtUp && clientsDone
    }

    /// The servers in the leader's configuration; others need not converge.
    func members(of leader: SimulatedNode<Machine>.Node) -> [SimulatedNode<Machine>] {
        nodes.filter { leader.configuration.contains($0.id) }
    }

    func convergenceReport() -> String {
        nodes.map { node in
            if node.lifecycle != .active { return "\(node.id):\(node.lifecycle)" }
            guard let raft = node.raft else { return "\(node.id):down" }
            return "\(node.id):\(raft.role) t\(raft.term) l\(raft.leader) c\(raft.commitIndex)"
                + " a\(node.state.appliedIndex) last\(raft.lastIndex) v\(raft.configuration.voters)"
        }.joined(separator: " ") + " outstanding=\(clients.filter { $0.request != nil }.count)"
            + " blocked=\(network.blocked.map { "\($0.from)>\($0.to)" }.sorted())"
    }

    /// Final checks once converged: every acknowledged request took effect exactly once and
    /// is part of every replica's state.
    mutating func checkConverged() throws(Violation) {
        let leader = nodes.first { $0.raft?.role == .leader }!.raft!
        let members = members(of: leader)
        let digests = Set(members.map(\.state.digest))
        if digests.count != 1 {
            throw Violation(kind: .stateDivergence, step: now, detail: "converged digests differ")
        }
        for (requestID, index) in acknowledged {
            guard checker.effectIndex(of: requestID) == index else {
                throw Violation(
                    kind: .lostAcknowledgement, step: now,
                    detail: "acknowledged \(requestID) at \(index) has no effect there")
            }
            for node in members where (node.state.sessions.lastSequence(of: requestID.client) ?? 0)
                < requestID.sequence {
                throw Violation(
                    kind: .lostAcknowledgement, step: now,
                    detail: "node \(node.id) lacks acknowledged \(requestID)")
            }
        }
        statistics.committedIndex = leader.commitIndex
        statistics.leadersElected = checker.leadersElected
    }
}
