import Testing
@testable import Consensus
@testable import ConsensusSimulation

@Suite("Log replication and commit")
struct ReplicationTests {
    @Test("Proposals commit and apply in the same order on every node")
    func proposalsApplyEverywhere() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        for (sequence, text) in ["a", "b", "c"].enumerated() {
            try cluster.propose(1, text, sequence: UInt64(sequence) + 1)
        }
        for id: NodeID in [1, 2, 3] {
            #expect(cluster.appliedTexts(id) == ["a", "b", "c"])
            #expect(cluster[id].commitIndex == 4)
        }
    }

    @Test("A new leader's first entry in its term is a no-op")
    func leaderAppendsNoop() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        let first = cluster.applied[1]!.first
        #expect(first?.kind == .noop)
        #expect(first?.term == 1)
    }

    @Test("Followers refuse proposals and name the leader")
    func followerRefusesProposal() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        #expect(throws: ProposalError.notLeader(leader: 1)) {
            try cluster.propose(2, "x")
        }
    }

    /// A follower holding entries 1...4 receives a delayed copy of the append that carried
    /// entry 3. Its commit index is held at zero so the append is not simply ignored as old.
    private func staleAppendScenario(mutations: TestingMutations) throws -> TestCluster {
        var cluster = TestCluster(voters: 3, mutations: mutations)
        cluster.filter = { message in
            var message = message
            if message.to == 2 { message.commit = 0 }
            return message
        }
        cluster.campaign(1)
        for sequence: UInt64 in 1...3 { try cluster.propose(1, "e\(sequence)", sequence: sequence) }
        #expect(cluster[2].lastIndex == 4)
        #expect(cluster[2].commitIndex == 0)
        let stale = cluster.sent.first { $0.kind == .append && $0.to == 2 && $0.entries.last?.index == 3 }!
        cluster[2].step(stale)
        cluster.processReadies()
        return cluster
    }

    @Test("A stale or duplicate append never truncates entries after it")
    func staleAppendDoesNotTruncate() throws {
        let cluster = try staleAppendScenario(mutations: [])
        #expect(cluster[2].lastIndex == 4)
    }

    @Test("Mutation truncateOnStaleAppend deletes acknowledged entries")
    func mutationTruncates() throws {
        let cluster = try staleAppendScenario(mutations: .truncateOnStaleAppend)
        #expect(cluster[2].lastIndex < 4)
    }

    @Test("A real conflict (same index, different term) replaces the follower's tail")
    func conflictReplacesTail() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        // Leader 1 writes entries only it holds, then loses leadership to node 2.
        cluster.isolate(1)
        _ = try? cluster[1].propose(Array("lost".utf8), requestID: RequestID(client: 9, sequence: 1))
        cluster.processReadies()
        cluster.queue = []
        #expect(cluster[1].lastIndex == 2)
        cluster.expireLease(2, 3)
        cluster.campaign(2)
        try cluster.propose(2, "kept", client: 2)
        try cluster.propose(2, "kept2", client: 2, sequence: 2)
        cluster.heal()
        cluster.tickAll(times: 3)
        #expect(cluster[1].lastIndex == cluster[2].lastIndex)
        #expect(cluster.appliedTexts(1) == ["kept", "kept2"])
        #expect(try cluster[1].log.term(at: 2) == cluster[2].term)
    }

    @Test("Figure 8: entries from earlier terms are never committed by counting replicas")
    func figure8() {
        let outcome = figure8Scenario(mutations: [])
        #expect(outcome.committedOldEntry == false)
        #expect(outcome.divergentApply == false)
    }

    @Test("Mutation commitPreviousTermByCounting lets a committed entry be overwritten")
    func figure8Mutation() {
        let outcome = figure8Scenario(mutations: .commitPreviousTermByCounting)
        #expect(outcome.committedOldEntry)
        #expect(outcome.divergentApply)
    }

    /// The Raft paper's Figure 8 with five servers, driven message by message.
    private func figure8Scenario(mutations: TestingMutations) -> (committedOldEntry: Bool, divergentApply: Bool) {
        // The paper's setting: no pre-vote and no leader lease, so servers vote freely.
        var cluster = TestCluster(voters: 5, preVote: false, checkQuorum: false, mutations: mutations)
        // (a) S1 leads term 1 and writes X at index 2, reaching only S2.
        cluster.campaign(1)
        for id: NodeID in [3, 4, 5] { cluster.cut(1, id) }
        _ = try? cluster[1].propose(Array("X".utf8), requestID: RequestID(client: 1, sequence: 1))
        cluster.stabilize()
        // (b) S1 crashes; S5 wins term 2 with S3 and S4, but its no-op at index 2 stays local.
        cluster.isolate(1)
        cluster.cut(5, 2)
        cluster.filter = { $0.kind == .append && $0.from == 5 ? nil : $0 }
        cluster.campaign(5)
        #expect(cluster[5].role == .leader)
        cluster.isolate(5)
        cluster.stabilize()
        // (c) S1 restarts and, on its second try, wins term 3 with S2 and S3. X reaches S3 but
        // the new no-op reaches nobody, and nobody hears S1's commit index (it crashes next).
        cluster.restart(1)
        cluster.heal()
        cluster.isolate(5)
        cluster.cut(1, 4)
        cluster.filter = { message in
            var message = message
            if message.from == 1 {
                message.entries = message.entries.filter { $0.index <= 2 }
                message.commit = min(message.commit, 1)
            }
            return message
        }
        cluster.campaign(1)
        if cluster[1].role != .leader { cluster.campaign(1) }
        #expect(cluster[1].role == .leader)
        #expect(cluster[1].term == 3)
        let committedOld = cluster[1].commitIndex >= 2
        // (d) S1 crashes again; S5 (last term 2) wins term 4 from S2, S3, S4 and overwrites X.
        let appliedByOne = cluster.applied[1]!
        cluster.filter = nil
        cluster.restart(1)
        cluster.restart(5)
        cluster.heal()
        cluster.isolate(1)
        cluster.campaign(5)
        if cluster[5].role != .leader { cluster.campaign(5) }
        #expect(cluster[5].role == .leader)
        #expect(cluster[5].term == 4)
        cluster.stabilize()
        let xApplied = appliedByOne.contains { $0.data == Array("X".utf8) }
        let overwritten = cluster.applied[2]!.contains { $0.index == 2 && $0.term == 2 }
        // The simulator's log-matching checker sees the same history as a violation.
        var checker = SafetyChecker()
        var checkerCaught = false
        for entry in appliedByOne + cluster.applied[2]! + cluster.applied[3]! {
            do {
                try checker.checkApplied(entry, step: 0)
            } catch {
                checkerCaught = error.kind == .logMismatch
            }
        }
        #expect(checkerCaught == (xApplied && overwritten))
        return (committedOld, xApplied && overwritten)
    }
}
