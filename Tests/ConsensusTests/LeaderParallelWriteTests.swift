import Testing
@testable import Consensus
@testable import ConsensusSimulation

/// The leader sends its appends before its own copy is durable (thesis §10.2.1), so its own
/// copy must count toward the commit quorum only once `advance(_:)` reports it persisted.
@Suite("Leader writes in parallel with its followers")
struct LeaderParallelWriteTests {
    /// What a driver does once a Ready's write is durable: store it, then `advance`.
    private func persistAndAdvance(_ ready: Ready, on id: NodeID, in cluster: inout TestCluster) {
        cluster.storages[id]!.append(ready.entries)
        if let hardState = ready.hardState { cluster.storages[id]!.setHardState(hardState) }
        cluster[id].advance(ready)
    }

    /// A three-node cluster led by node 1 with nothing in flight.
    private func ledCluster(mutations: TestingMutations = []) -> TestCluster {
        var cluster = TestCluster(voters: 3, mutations: mutations)
        cluster.campaign(1)
        #expect(cluster.leader == 1)
        return cluster
    }

    @Test("A leader's appends leave before its write, its answers and votes after it")
    func appendsAreEarlyMessages() throws {
        var cluster = ledCluster()
        _ = try cluster[1].propose(Array("x".utf8), requestID: RequestID(client: 1, sequence: 1))
        let readyTaken = cluster[1].ready()
        let ready = try #require(readyTaken)
        #expect(!ready.entries.isEmpty)
        #expect(ready.mustSync)
        #expect(ready.earlyMessages.count == 2)
        #expect(ready.earlyMessages.allSatisfy { $0.kind == .append && $0.entries.last?.index == ready.entries.last?.index })
        #expect(ready.messages.isEmpty)
        persistAndAdvance(ready, on: 1, in: &cluster)

        // A follower's acknowledgement states what it persisted: never early.
        cluster[2].step(ready.earlyMessages.first { $0.to == 2 }!)
        let answerTaken = cluster[2].ready()
        let answer = try #require(answerTaken)
        #expect(answer.earlyMessages.isEmpty)
        #expect(answer.messages.contains { $0.kind == .appendResponse })
    }

    @Test("A candidate's vote requests wait for its vote to be durable")
    func voteRequestsAreNotEarly() throws {
        var cluster = TestCluster(voters: 3, preVote: false)
        cluster[1].campaignNow()
        let readyTaken = cluster[1].ready()
        let ready = try #require(readyTaken)
        #expect(ready.earlyMessages.isEmpty)
        #expect(ready.messages.filter { $0.kind == .vote }.count == 2)
        #expect(ready.hardState?.vote == 1)
    }

    @Test("The leader's unpersisted copy does not count toward commit")
    func undurableLeaderCopyDoesNotCount() throws {
        var cluster = ledCluster()
        let before = cluster[1].commitIndex
        let index = try cluster[1].propose(Array("x".utf8), requestID: RequestID(client: 1, sequence: 1))
        #expect(cluster[1].commitIndex == before)
        let readyTaken = cluster[1].ready()
        let ready = try #require(readyTaken)
        #expect(ready.committedEntries.isEmpty)

        // One follower acknowledges while the leader's own write is still under way: only one
        // durable copy exists, which is no quorum of three.
        cluster[2].step(ready.earlyMessages.first { $0.to == 2 }!)
        let answerTaken = cluster[2].ready()
        let answer = try #require(answerTaken)
        persistAndAdvance(answer, on: 2, in: &cluster)
        let ack = try #require(answer.messages.first { $0.kind == .appendResponse && $0.to == 1 })
        #expect(ack.index == index)
        cluster[1].step(ack)
        #expect(cluster[1].commitIndex == before)

        // Once the leader's write is reported, its copy and the follower's make a quorum.
        persistAndAdvance(ready, on: 1, in: &cluster)
        #expect(cluster[1].commitIndex == index)
        let nextTaken = cluster[1].ready()
        let next = try #require(nextTaken)
        #expect(next.committedEntries.map(\.index) == [index])
        // The followers learn the new commit index at once.
        #expect(next.earlyMessages.contains { $0.kind == .append && $0.to == 3 && $0.commit == index })
    }

    @Test("Two followers commit an entry the leader has not yet written")
    func followersAloneMakeAQuorum() throws {
        var cluster = ledCluster()
        let index = try cluster[1].propose(Array("x".utf8), requestID: RequestID(client: 1, sequence: 1))
        let readyTaken = cluster[1].ready()
        let ready = try #require(readyTaken)
        for id: NodeID in [2, 3] {
            cluster[id].step(ready.earlyMessages.first { $0.to == id }!)
            let answerTaken = cluster[id].ready()
            let answer = try #require(answerTaken)
            persistAndAdvance(answer, on: id, in: &cluster)
            cluster[1].step(answer.messages.first { $0.kind == .appendResponse }!)
        }
        #expect(cluster[1].commitIndex == index)
        persistAndAdvance(ready, on: 1, in: &cluster)
        let nextTaken = cluster[1].ready()
        let next = try #require(nextTaken)
        #expect(next.committedEntries.map(\.index) == [index])
    }

    @Test("A single server commits its entry once it is written")
    func singleServerCommitsAfterAdvance() throws {
        var cluster = TestCluster(voters: 1)
        cluster.campaign(1)
        #expect(cluster.leader == 1)
        let index = try cluster[1].propose(Array("x".utf8), requestID: RequestID(client: 1, sequence: 1))
        let readyTaken = cluster[1].ready()
        let ready = try #require(readyTaken)
        #expect(ready.committedEntries.isEmpty)
        #expect(cluster[1].commitIndex == index - 1)
        persistAndAdvance(ready, on: 1, in: &cluster)
        #expect(cluster[1].commitIndex == index)
        let nextTaken = cluster[1].ready()
        let next = try #require(nextTaken)
        #expect(next.committedEntries.map(\.index) == [index])
        #expect(!next.mustSync)
    }
}
