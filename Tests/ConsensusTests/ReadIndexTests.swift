import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("ReadIndex reads")
struct ReadIndexTests {
    @Test("A read is confirmed by a heartbeat quorum and returns the commit index")
    func readConfirmedByQuorum() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster.propose(1, "w")
        try cluster[1].readIndex(context: 7)
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(index: 2, context: 7)])
    }

    @Test("A new leader holds reads until its term's no-op commits")
    func readWaitsForNoop() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.expireLease(2, 3)
        // Node 2 becomes leader but its no-op cannot reach anyone yet.
        cluster.isolate(1)
        cluster.filter = { $0.kind == .append && $0.from == 2 ? nil : $0 }
        cluster.campaign(2)
        #expect(cluster[2].role == .leader)
        try cluster[2].readIndex(context: 9)
        cluster.stabilize()
        #expect(cluster.readStates[2, default: []].isEmpty)
        cluster.filter = nil
        cluster.tick(2, times: 2)
        #expect(cluster.readStates[2] == [ReadState(index: 2, context: 9)])
    }

    @Test("An isolated leader cannot confirm a read")
    func isolatedLeaderCannotRead() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        try cluster[1].readIndex(context: 3)
        cluster.tick(1, times: 5)
        #expect(cluster.readStates[1, default: []].isEmpty)
    }

    @Test("Mutation readIndexWithoutQuorum answers an isolated leader at once")
    func mutationAnswersWithoutQuorum() throws {
        var cluster = TestCluster(voters: 3, mutations: .readIndexWithoutQuorum)
        cluster.campaign(1)
        cluster.isolate(1)
        try cluster[1].readIndex(context: 3)
        cluster.stabilize()
        #expect(cluster.readStates[1]?.count == 1)
    }

    @Test("Followers refuse reads and name the leader; context zero is refused")
    func refusals() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        #expect(throws: ReadIndexError.notLeader(leader: 1)) { try cluster[2].readIndex(context: 1) }
        #expect(throws: ReadIndexError.invalidContext) { try cluster[1].readIndex(context: 0) }
    }

    @Test("A single-voter leader answers at once")
    func singleVoter() throws {
        var cluster = TestCluster(voters: 1)
        cluster.campaign(1)
        try cluster[1].readIndex(context: 5)
        cluster.stabilize()
        #expect(cluster.readStates[1] == [ReadState(index: 1, context: 5)])
    }
}
