import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Pre-vote and check-quorum")
struct PreVoteCheckQuorumTests {
    @Test("An isolated node's failed pre-votes do not raise its term")
    func isolatedPreVoteKeepsTerm() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(3)
        cluster.tick(3, times: 100)
        #expect(cluster[3].term == 1)
        #expect(cluster[3].role == .preCandidate)
    }

    @Test("A partitioned node rejoining does not disrupt a stable leader")
    func rejoiningNodeDoesNotDisrupt() {
        var cluster = rejoinScenario(mutations: [])
        #expect(cluster.leader == 1)
        #expect(cluster[1].term == 1)
        #expect(cluster[3].leader == 1 || cluster[3].role == .preCandidate)
        cluster.tickAll(times: 30)
        #expect(cluster.leader == 1)
        #expect(cluster[3].leader == 1)
    }

    @Test("Mutation skipPreVoteTermCheck lets the rejoining node depose the leader")
    func mutationDisrupts() {
        let cluster = rejoinScenario(mutations: .skipPreVoteTermCheck)
        #expect(cluster.leader != 1 || cluster[1].term > 1)
    }

    /// Node 3 is cut off while the leader is idle (so its log stays up to date), times out
    /// repeatedly, then rejoins and campaigns while node 2 still hears from leader 1.
    private func rejoinScenario(mutations: TestingMutations) -> TestCluster {
        var cluster = TestCluster(voters: 3, mutations: mutations)
        cluster.campaign(1)
        cluster.isolate(3)
        for _ in 0..<40 {
            cluster[1].tick()
            cluster[2].tick()
            cluster[3].tick()
            cluster.stabilize()
        }
        cluster.heal()
        // Keep the leader's lease fresh on node 2, then let node 3 campaign.
        cluster[1].tick()
        cluster.stabilize()
        cluster.campaign(3)
        return cluster
    }

    @Test("Two followers pre-campaigning at once after the leader fails: one election round, no split vote")
    func simultaneousPreCandidatesElectOne() {
        // Equal logs: the higher node ID wins the tie.
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.expireLease(2, 3)
        cluster.nodes[2]!.campaign(.preElection)
        cluster.nodes[3]!.campaign(.preElection)
        cluster.stabilize()
        #expect(cluster[3].role == .leader && cluster[3].term == 2)
        #expect(cluster[2].role == .follower && cluster[2].leader == 3 && cluster[2].term == 2)

        // The lower ID with the longer log: the log decides, not the ID.
        var longer = TestCluster(voters: 3)
        longer.campaign(1)
        longer.cut(1, 3)
        _ = try? longer.propose(1, "only node 2 has this")
        longer.isolate(1)
        longer.expireLease(2, 3)
        longer.nodes[3]!.campaign(.preElection)
        longer.nodes[2]!.campaign(.preElection)
        longer.stabilize()
        #expect(longer[2].role == .leader && longer[2].term == 2)
        #expect(longer.appliedTexts(3).contains("only node 2 has this"))
    }

    @Test("A leader that cannot reach a quorum steps down within two election timeouts")
    func leaderStepsDownWithoutQuorum() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.tick(1, times: 20)
        #expect(cluster[1].role == .follower)
        #expect(cluster[1].leader == noNode)
    }

    @Test("Without check-quorum an isolated leader keeps believing it leads")
    func withoutCheckQuorumLeaderStays() {
        var cluster = TestCluster(voters: 3, checkQuorum: false)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.tick(1, times: 20)
        #expect(cluster[1].role == .leader)
    }

    @Test("A stale leader learns the new term from a follower's answer and steps down")
    func staleLeaderStepsDown() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        cluster.tickAll(times: 40)
        let newLeader = cluster.nodes.values.first { $0.role == .leader && $0.id != 1 }
        #expect(newLeader != nil)
        cluster.heal()
        cluster.tickAll(times: 5)
        #expect(cluster.nodes.values.filter { $0.role == .leader }.count == 1)
        #expect(cluster[1].role == .follower)
    }
}
