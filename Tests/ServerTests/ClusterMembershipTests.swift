import Foundation
import IdentityModel
import Server
import Testing

@Suite("ClusterMembership")
struct ClusterMembershipTests {
    static func member(_ name: String) throws -> ClusterMembership {
        let all = ["b": "10.0.0.2:8081", "a": "10.0.0.1:8081", "c": "[::1]:8081"]
        return try ClusterMembership(nodeName: name, peers: all.filter { $0.key != name }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    @Test("every member derives the same IDs (sorted names) and the same fingerprint")
    func sameIDsEverywhere() throws {
        let views = try ["a", "b", "c"].map(Self.member)
        for view in views {
            #expect(view.members.map(\.name.rawValue) == ["a", "b", "c"])
            #expect(view.members.map(\.id) == [1, 2, 3])
            #expect(view.fingerprint == views[0].fingerprint)
            #expect(view.voters == [1, 2, 3])
        }
        #expect(views.map(\.selfID) == [1, 2, 3])
        #expect(views[0].member(3)?.address?.host == "::1")
        #expect(views[0].member(4) == nil && views[0].member(0) == nil)
        let other = try ClusterMembership(nodeName: "a", peers: [("b", "h:1"), ("d", "h:2")])
        #expect(other.fingerprint != views[0].fingerprint, "a different member list is told apart")
    }

    @Test("bad peer lists are refused", arguments: [
        [("a", "h:1")],  // itself again
        [("b", "h")],
        [("b", "h:0")],
        [("b", "h:1"), ("b", "h:2")],
    ])
    func refused(peers: [(String, String)]) {
        #expect(throws: (any Error).self) { try ClusterMembership(nodeName: "a", peers: peers.map { ($0.0, $0.1) }) }
    }

    @Test("the member list is recorded with a new log and must match at every start")
    func recorded() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("members-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A log some single server wrote cannot silently become a member's.
        #expect(throws: (any Error).self) { try Self.member("a").checkRecorded(dataDir: directory, logIsEmpty: false) }
        try Self.member("a").checkRecorded(dataDir: directory, logIsEmpty: true)
        try Self.member("a").checkRecorded(dataDir: directory, logIsEmpty: false)
        let changed = try ClusterMembership(nodeName: "a", peers: [("b", "h:1")])
        #expect(throws: (any Error).self) { try changed.checkRecorded(dataDir: directory, logIsEmpty: false) }
        #expect(throws: (any Error).self) { try ClusterMembership.checkNotClusterLog(dataDir: directory) }
    }
}
