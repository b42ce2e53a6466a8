import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Leader election")
struct ElectionTests {
    @Test("A single voter elects itself once its election timeout passes")
    func singleNodeElectsItself() {
        var cluster = TestCluster(voters: 1)
        cluster.tick(1, times: 20)
        #expect(cluster[1].role == .leader)
        #expect(cluster[1].term == 1)
    }

    @Test("Three voters elect exactly one leader, and the others follow it")
    func threeNodesElectOneLeader() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        #expect(cluster[1].role == .leader)
        for id: NodeID in [2, 3] {
            #expect(cluster[id].role == .follower)
            #expect(cluster[id].leader == 1)
            #expect(cluster[id].term == 1)
        }
    }

    @Test("Election timeouts are drawn from the injected generator, in [T, 2T)")
    func randomizedTimeoutsComeFromInjectedGenerator() {
        var timeouts: Set<Int> = []
        for seed in 0..<50 as Range<UInt64> {
            let storage = MemoryRaftStorage(configuration: ConfigurationState(voters: [1]))
            let first = RaftNode(settings: RaftConfiguration(id: 1), storage: storage, rng: SimulationRandom(seed: seed))
            let second = RaftNode(settings: RaftConfiguration(id: 1), storage: storage, rng: SimulationRandom(seed: seed))
            #expect(first.randomizedElectionTimeoutTicks == second.randomizedElectionTimeoutTicks)
            #expect((10..<20).contains(first.randomizedElectionTimeoutTicks))
            timeouts.insert(first.randomizedElectionTimeoutTicks)
        }
        #expect(timeouts.count > 3, "timeouts should spread across the range")
    }

    @Test("A vote is in the same Ready as its hard state, which must be synced")
    func voteIsPersistedWithItsResponse() {
        var cluster = TestCluster(voters: 3)
        cluster[2].step(Message(kind: .vote, from: 1, to: 2, term: 1, logTerm: 0, index: 0))
        let ready = cluster[2].ready()!
        #expect(ready.hardState?.vote == 1)
        #expect(ready.hardState?.term == 1)
        #expect(ready.mustSync)
        #expect(ready.messages.contains { $0.kind == .voteResponse && !$0.reject && $0.to == 1 })
    }

    @Test("A voter grants one vote per term, even across a restart")
    func oneVotePerTerm() {
        var cluster = TestCluster(voters: 3)
        cluster[3].step(Message(kind: .vote, from: 1, to: 3, term: 1))
        cluster.processReadies()
        cluster.queue = []
        cluster.restart(3)
        cluster[3].step(Message(kind: .vote, from: 2, to: 3, term: 1))
        let ready = cluster[3].ready()!
        #expect(ready.messages.allSatisfy { $0.kind == .voteResponse && $0.reject })
        #expect(cluster[3].vote == 1)
    }

    @Test("Mutation grantTwoVotesPerTerm really grants a second vote")
    func mutationGrantsTwoVotes() {
        var cluster = TestCluster(voters: 3, mutations: .grantTwoVotesPerTerm)
        cluster[3].step(Message(kind: .vote, from: 1, to: 3, term: 1))
        cluster.processReadies()
        cluster.queue = []
        cluster[3].step(Message(kind: .vote, from: 2, to: 3, term: 1))
        let ready = cluster[3].ready()!
        #expect(ready.messages.contains { $0.kind == .voteResponse && !$0.reject })
    }

    @Test("Mutation skipVotePersistence forgets the vote across a restart")
    func mutationForgetsVote() {
        var cluster = TestCluster(voters: 3, mutations: .skipVotePersistence)
        cluster[3].step(Message(kind: .vote, from: 1, to: 3, term: 1))
        cluster.processReadies()
        cluster.queue = []
        cluster.restart(3)
        cluster[3].step(Message(kind: .vote, from: 2, to: 3, term: 1))
        let ready = cluster[3].ready()!
        #expect(ready.messages.contains { $0.kind == .voteResponse && !$0.reject })
    }

    @Test("A voter refuses a candidate whose log is behind its own")
    func rejectsCandidateWithStaleLog() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try! cluster.propose(1, "x")
        // Node 3 campaigns with an empty log at a higher term (no pre-vote, no lease).
        cluster[2].step(Message(kind: .vote, from: 3, to: 2, term: 5, logTerm: 0, index: 0, context: Message.transferContext))
        let ready = cluster[2].ready()!
        #expect(ready.messages.contains { $0.kind == .voteResponse && $0.reject })
    }

    @Test("Split votes resolve: ticking everyone eventually elects one leader", arguments: [1, 2, 3, 4, 5] as [UInt64])
    func ticksEventuallyElectOneLeader(seed: UInt64) {
        var cluster = TestCluster(voters: 5, seed: seed)
        cluster.tickAll(times: 60)
        let leaders = cluster.nodes.values.filter { $0.role == .leader }
        #expect(leaders.count == 1)
    }
}
