import Testing
@testable import Consensus

@Suite("Configuration-change context and replication status")
struct ConfigurationContextTests {
    @Test("a change without context encodes as before (format 1); with context as format 2, and both round-trip")
    func codec() {
        let plain = ConfigurationChange(.addVoter, node: 4)
        let plainBytes = ConfigurationChangeCodec.encode(plain)
        #expect(plainBytes == [1, 1, 4])
        #expect(ConfigurationChange(entryData: plainBytes) == plain)
        let named = ConfigurationChange(.removeVoter, node: 300, context: Array("{\"name\":\"s4\"}".utf8))
        let namedBytes = ConfigurationChangeCodec.encode(named)
        #expect(namedBytes.first == 2)
        #expect(ConfigurationChange(entryData: namedBytes) == named)
    }

    @Test("malformed payloads do not decode", arguments: [
        [UInt8](),
        [3, 1, 4],  // unknown format
        [2, 1, 4, 0],  // format 2 with an empty context
        [2, 1, 4, 3, 65, 66],  // context shorter than its length
        [1, 1, 4, 9],  // trailing byte
        [1, 1, 0],  // node 0
    ])
    func malformed(bytes: [UInt8]) {
        #expect(ConfigurationChange(entryData: bytes) == nil)
    }

    @Test("a context longer than the bound does not decode")
    func oversized() {
        var writer = ByteWriter()
        writer.write(2)
        writer.write(1)
        writer.writeVarint(4)
        writer.writeBytes([UInt8](repeating: 65, count: Limits.configurationContextBytesMax + 1))
        #expect(ConfigurationChange(entryData: writer.bytes) == nil)
    }

    @Test("the context travels with the entry to every member and does not change the configuration")
    func contextReplicates() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.addNode(
            4, settings: RaftConfiguration(id: 4),
            storage: MemoryRaftStorage(configuration: ConfigurationState(voters: [1, 2, 3])))
        let context = Array("s4@h:1".utf8)
        let index = try cluster[1].proposeConfigurationChange(ConfigurationChange(.addVoter, node: 4, context: context))
        cluster.stabilize()
        for id: NodeID in 1...4 {
            #expect(cluster[id].configuration.voters == [1, 2, 3, 4])
            let entry = try #require(try cluster[id].log.slice(from: index, to: index + 1, maxBytes: .max).first)
            #expect(ConfigurationChange(entryData: entry.data)?.context == context)
        }
    }

    @Test("the leader reports every voter's progress; a follower reports none")
    func replicationStatus() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        try cluster.propose(1, "a")
        cluster.stabilize()
        let status = cluster[1].replicationStatus
        #expect(status.map(\.node) == [1, 2, 3])
        #expect(status.allSatisfy { $0.match == cluster[1].lastIndex && $0.next == cluster[1].lastIndex + 1 })
        #expect(status.allSatisfy { $0.state == .replicate })
        #expect(cluster[2].replicationStatus.isEmpty)
        cluster.isolate(3)
        try cluster.propose(1, "b")
        cluster.stabilize()
        let lagging = try #require(cluster[1].replicationStatus.first { $0.node == 3 })
        #expect(lagging.match < cluster[1].lastIndex, "an isolated follower's match index stays behind")
        #expect(cluster[1].firstLogIndex == 1)
    }
}
