import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Leadership transfer")
struct TransferTests {
    @Test("Leadership moves to an up-to-date target via TimeoutNow")
    func transferToUpToDateTarget() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster[1].transferLeadership(to: 3)
        cluster.stabilize()
        #expect(cluster.leader == 3)
        #expect(cluster[3].term == 2)
        #expect(cluster[1].leader == 3)
    }

    @Test("A lagging target is caught up first; proposals are refused meanwhile")
    func transferToLaggingTarget() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(3)
        try cluster.propose(1, "a")
        try cluster[1].transferLeadership(to: 3)
        #expect(throws: ProposalError.transferInProgress) {
            try cluster[1].propose([1], requestID: RequestID(client: 1, sequence: 2))
        }
        cluster.heal()
        cluster.tick(1)
        #expect(cluster.leader == 3)
        #expect(cluster.appliedTexts(3) == ["a"])
    }

    @Test("A transfer that cannot finish is abandoned after an election timeout")
    func transferTimesOut() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.cut(1, 3)
        try cluster[1].transferLeadership(to: 3)
        cluster.tick(1, times: 12)
        #expect(cluster[1].leadTransferee == noNode)
        #expect(cluster[1].role == .leader)
        #expect(throws: TransferError.invalidTarget) { try cluster[1].transferLeadership(to: 1) }
    }
}

@Suite("Single-server membership changes")
struct MembershipTests {
    @Test("Adding a voter: it catches up and joins every configuration")
    func addVoter() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster.propose(1, "before")
        // A joining server starts with an empty log and the bootstrap configuration; replaying
        // the log (or a snapshot) brings it to the current one.
        cluster.addNode(
            4, settings: RaftConfiguration(id: 4),
            storage: MemoryRaftStorage(configuration: ConfigurationState(voters: [1, 2, 3])))
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.addVoter, node: 4))
        cluster.stabilize()
        cluster.tick(1, times: 2)
        for id: NodeID in 1...4 {
            #expect(cluster[id].configuration.voters == [1, 2, 3, 4])
        }
        #expect(cluster.appliedTexts(4) == ["before"])
        #expect(cluster[4].commitIndex == cluster[1].commitIndex)
    }

    @Test("Removing a voter shrinks the quorum")
    func removeVoter() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 3))
        cluster.stabilize()
        cluster.tick(1)
        #expect(cluster[1].configuration.voters == [1, 2])
        cluster.isolate(3)
        try cluster.propose(1, "two of two")
        #expect(cluster.appliedTexts(2) == ["two of two"])
    }

    @Test("A removed leader hands leadership to a remaining voter")
    func removeLeader() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 1))
        cluster.stabilize()
        cluster.tick(1)
        #expect(cluster[1].role == .follower)
        let successor = try #require(cluster.leader)
        #expect(successor == 2 || successor == 3)
        #expect(cluster[successor].configuration.voters.count == 2)
        #expect(!cluster[successor].configuration.contains(1))
    }

    @Test("A removed leader whose hand-off fails steps down after an election timeout")
    func removedLeaderStepsDown() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.filter = { $0.kind == .timeoutNow ? nil : $0 }
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 1))
        cluster.stabilize()
        #expect(cluster[1].role == .leader)
        #expect(throws: ProposalError.transferInProgress) {
            try cluster[1].propose([1], requestID: .none)
        }
        cluster.tick(1, times: 11)
        #expect(cluster[1].role == .follower)
    }

    @Test("Changes are refused until the leader commits in its term, and one at a time")
    func changeGuards() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.expireLease(2, 3)
        cluster.filter = { $0.kind == .append && $0.from == 2 ? nil : $0 }
        cluster.campaign(2)
        #expect(cluster[2].role == .leader)
        #expect(throws: ProposalError.leaderNotReady) {
            try cluster[2].proposeConfigurationChange(ConfigurationChange(.addVoter, node: 9))
        }
        cluster.filter = nil
        cluster.tick(2, times: 2)
        try cluster[2].proposeConfigurationChange(ConfigurationChange(.addVoter, node: 9))
        #expect(throws: ProposalError.configurationChangeInProgress) {
            try cluster[2].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 3))
        }
        #expect(throws: ProposalError.invalidConfigurationChange) {
            var fresh = TestCluster(voters: 1)
            fresh.campaign(1)
            try fresh[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 1))
        }
    }

    @Test("A configuration takes effect when appended and is undone when truncated")
    func configurationFollowsTheLog() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        // Node 2 receives the change, but nobody learns that it commits.
        cluster.cut(1, 3)
        cluster.filter = { message in
            var message = message
            message.commit = min(message.commit, 1)
            return message.kind == .appendResponse ? nil : message
        }
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 3))
        cluster.stabilize()
        #expect(cluster[2].configuration.voters == [1, 2])
        #expect(cluster[2].appliedConfiguration.voters == [1, 2, 3])
        // A newer leader overwrites the uncommitted change at index 2.
        cluster[2].step(Message(
            kind: .append, from: 3, to: 2, term: 5, logTerm: 1, index: 1,
            entries: [Entry(term: 5, index: 2, kind: .noop)], commit: 1))
        #expect(cluster[2].lastIndex == 2)
        #expect(cluster[2].configuration.voters == [1, 2, 3])
    }

    @Test("A server whose log removes it never campaigns")
    func removedServerDoesNotCampaign() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster[1].proposeConfigurationChange(ConfigurationChange(.removeVoter, node: 1))
        cluster.stabilize()
        cluster.tick(1)
        let term = cluster[1].term
        #expect(!cluster[1].configuration.contains(1))
        cluster.isolate(1)
        cluster.tick(1, times: 40)
        #expect(cluster[1].role == .follower)
        #expect(cluster[1].term == term)
    }
}

