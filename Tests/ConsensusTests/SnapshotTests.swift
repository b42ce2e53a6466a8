import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Snapshots, compaction and InstallSnapshot")
struct SnapshotTests {
    /// Node 3 misses 20 entries, the leader compacts past them, then node 3 comes back.
    private func laggingFollowerScenario() throws -> TestCluster {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(3)
        for sequence: UInt64 in 1...20 { try cluster.propose(1, "e\(sequence)", sequence: sequence) }
        let applied = cluster[1].appliedIndex
        try cluster.storages[1]!.createSnapshot(
            at: applied, configuration: cluster[1].appliedConfiguration, data: Array("image".utf8))
        #expect(cluster.storages[1]!.firstIndex() == applied + 1)
        cluster.heal()
        cluster.tickAll(times: 3)
        return cluster
    }

    @Test("A follower behind the compacted prefix catches up through one snapshot")
    func laggingFollowerGetsSnapshot() throws {
        let cluster = try laggingFollowerScenario()
        let snapshots = cluster.sent.filter { $0.kind == .snapshot && $0.to == 3 }
        #expect(snapshots.count == 1, "the snapshot must not be re-sent in a loop")
        #expect(cluster.storages[3]!.currentSnapshot.metadata.index == 21)
        #expect(cluster.storages[3]!.currentSnapshot.data == Array("image".utf8))
        #expect(cluster[3].commitIndex == cluster[1].commitIndex)
    }

    @Test("Entries proposed after the snapshot replicate normally to the caught-up follower")
    func replicationResumesAfterSnapshot() throws {
        var cluster = try laggingFollowerScenario()
        try cluster.propose(1, "after", sequence: 21)
        #expect(cluster.appliedTexts(3) == ["after"])
        #expect(cluster[3].lastIndex == cluster[1].lastIndex)
    }

    @Test("Installing a snapshot drops a conflicting tail atomically")
    func snapshotReplacesConflictingLog() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        // Leader 1 is cut off and writes entries nobody else will ever have.
        cluster.isolate(1)
        for sequence: UInt64 in 1...3 {
            _ = try? cluster[1].propose(Array("doomed".utf8), requestID: RequestID(client: 9, sequence: sequence))
        }
        cluster.processReadies()
        cluster.queue = []
        #expect(cluster[1].lastIndex == 4)
        // Meanwhile the others move on under node 2 and compact their logs.
        cluster.expireLease(2, 3)
        cluster.campaign(2)
        for sequence: UInt64 in 1...5 { try cluster.propose(2, "e\(sequence)", client: 2, sequence: sequence) }
        try cluster.storages[2]!.createSnapshot(
            at: cluster[2].appliedIndex, configuration: cluster[2].appliedConfiguration, data: [42])
        cluster.heal()
        cluster.tickAll(times: 3)
        #expect(cluster[1].role == .follower)
        #expect(cluster.storages[1]!.currentSnapshot.data == [42])
        #expect(!cluster.storages[1]!.log.contains { $0.data == Array("doomed".utf8) })
        #expect(cluster[1].lastIndex == cluster[2].lastIndex)
        #expect(try cluster[1].log.term(at: cluster[1].lastIndex) == cluster[2].term)
    }

    @Test("A stale snapshot (at or below the commit index) is acknowledged, not installed")
    func staleSnapshotIgnored() {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        let before = cluster[2].lastIndex
        let stale = Snapshot(
            metadata: SnapshotMetadata(index: 1, term: 1, configuration: ConfigurationState(voters: [1, 2, 3])),
            data: [1])
        cluster[2].step(Message(kind: .snapshot, from: 1, to: 2, term: 1, snapshot: stale))
        let ready = cluster[2].ready()!
        #expect(ready.snapshot == nil)
        #expect(ready.messages.contains { $0.kind == .appendResponse && $0.index == before })
    }

    @Test("Storage reports compacted and unavailable ranges with sentinel errors")
    func storageSentinels() throws {
        let storage = MemoryRaftStorage(configuration: ConfigurationState(voters: [1]))
        storage.append((1...5).map { Entry(term: 1, index: $0, data: [UInt8($0)]) })
        storage.setHardState(HardState(term: 1, vote: 1, commit: 5))
        try storage.createSnapshot(at: 3, configuration: ConfigurationState(voters: [1]), data: [])
        #expect(throws: StorageError.compacted) { try storage.entries(from: 2, to: 4, maxBytes: .max) }
        #expect(throws: StorageError.unavailable) { try storage.entries(from: 4, to: 7, maxBytes: .max) }
        #expect(throws: StorageError.compacted) { try storage.term(at: 2) }
        #expect(try storage.term(at: 3) == 1)
        #expect(try storage.entries(from: 4, to: 6, maxBytes: 1).count == 1)
        #expect(storage.firstIndex() == 4)
        #expect(storage.lastIndex() == 5)
    }
}
