import Consensus
import Foundation
import IdentityModel
import Logging
@testable import Server
import Testing

@Suite("MemberRegistry")
struct MemberRegistryTests {
    static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("registry-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func bootstrap(_ name: String, dataDir: String) throws -> MemberRegistry {
        let all = ["s1": "127.0.0.1:1001", "s2": "127.0.0.1:1002", "s3": "127.0.0.1:1003"]
        let membership = try ClusterMembership(
            nodeName: name, peers: all.filter { $0.key != name }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return try MemberRegistry(bootstrap: membership, selfAddress: all[name], dataDir: dataDir, logger: logger)
    }

    static func add(_ id: NodeID, _ name: String, _ address: String) -> ConfigurationChange {
        ConfigurationChange(.addVoter, node: id, context: MemberRegistry.Record(name: name, address: address).encoded())
    }

    static func remove(_ id: NodeID, _ name: String) -> ConfigurationChange {
        ConfigurationChange(.removeVoter, node: id, context: MemberRegistry.Record(name: name, address: nil).encoded())
    }

    @Test("members learned from the log get IDs above the bootstrap ones, survive a restart, and IDs are never reused")
    func learnPersistAndNeverReuse() throws {
        let dataDir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let registry = try Self.bootstrap("s1", dataDir: dataDir)
        #expect(registry.members.map(\.name) == ["s1", "s2", "s3"])
        #expect(registry.bootstrapVoters == [1, 2, 3])
        #expect(registry.nextID() == 4)
        registry.learn([Self.add(4, "s4", "127.0.0.1:1004")])
        #expect(registry.member(named: "s4")?.id == 4)
        #expect(registry.nextID() == 5)

        // A restart reads what the log taught it; the configuration's addresses still win.
        let restarted = try Self.bootstrap("s1", dataDir: dataDir)
        #expect(restarted.member(4) == .init(id: 4, name: "s4", address: "127.0.0.1:1004", removed: false))
        #expect(restarted.identity == registry.identity, "the identity does not change when members do")

        // Removed, then back under the same name: a new ID, the old one stays taken.
        restarted.learn([Self.remove(4, "s4")])
        #expect(restarted.member(4)?.removed == true)
        #expect(restarted.nextID() == 5)
        restarted.learn([Self.add(5, "s4", "127.0.0.1:1005")])
        #expect(restarted.member(named: "s4")?.id == 5)
        #expect(restarted.member(named: "s4")?.removed == false)

        // A change without a record (written by no server) teaches nothing.
        restarted.learn([ConfigurationChange(.addVoter, node: 9)])
        #expect(restarted.member(9) == nil)
    }

    @Test("a joined member's registry comes from its join record and keeps the bootstrap identity")
    func joined() throws {
        let dataDir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        #expect(!MemberRegistry.isJoined(dataDir: dataDir))
        #expect(throws: MemberRegistry.RegistryError.self) { try MemberRegistry(joinedIn: dataDir, nodeName: "s4", logger: Self.logger) }
        let bootstrap = try Self.bootstrap("s2", dataDir: try Self.directory())
        try MemberRegistry.recordJoin(
            dataDir: dataDir, selfID: 4, selfName: "s4", bootstrap: ["s1", "s2", "s3"],
            members: bootstrap.members + [.init(id: 4, name: "s4", address: "127.0.0.1:1004", removed: false)])
        #expect(MemberRegistry.isJoined(dataDir: dataDir))
        let registry = try MemberRegistry(joinedIn: dataDir, nodeName: "s4", logger: Self.logger)
        #expect(registry.selfID == 4 && registry.selfName.rawValue == "s4")
        #expect(registry.identity == bootstrap.identity)
        #expect(registry.bootstrapVoters == [1, 2, 3])
        #expect(registry.member(named: "s2")?.address == "127.0.0.1:1002")
        #expect(registry.nextID() == 5)
        #expect(throws: MemberRegistry.RegistryError.self) { try MemberRegistry(joinedIn: dataDir, nodeName: "s5", logger: Self.logger) }
        // A single server is not started over a member's data directory.
        #expect(throws: (any Error).self) { try ClusterMembership.checkNotClusterLog(dataDir: dataDir) }
    }

    @Test("a registry written for another cluster or another node ID stops the start")
    func mismatchRefused() throws {
        let dataDir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        try Self.bootstrap("s1", dataDir: dataDir).learn([Self.add(4, "s4", "h:4")])
        #expect(throws: MemberRegistry.RegistryError.self) { try Self.bootstrap("s2", dataDir: dataDir) }
        let other = try ClusterMembership(nodeName: "s1", peers: [("x", "h:1")])
        #expect(throws: MemberRegistry.RegistryError.self) {
            try MemberRegistry(bootstrap: other, selfAddress: nil, dataDir: dataDir, logger: Self.logger)
        }
    }
}
