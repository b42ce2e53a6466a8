import Agent
import Foundation
import Testing

/// Socket handling of the endpoint runtime.
@Suite("Workload endpoint socket", .timeLimit(.minutes(1)))
struct WorkloadEndpointServerTests {
    static func provider() throws -> StaticIdentityProvider {
        try StaticIdentityProvider.make(try TestAuthority("example.org"), entries: [("e1", "/w", TestSelectors.current)])
    }

    @Test("the parent directory is created, the socket is mode 0777, and it is removed on shutdown")
    func socketLifecycle() async throws {
        let directory = "/tmp/lineage-ep-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/nested/public/api.sock"
        let server = WorkloadEndpointServer(configuration: .init(socketPath: socketPath), provider: try Self.provider())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await eventually("socket mode 0777", timeout: .seconds(10)) {
                let attributes = try? FileManager.default.attributesOfItem(atPath: socketPath)
                return attributes?[.type] as? FileAttributeType == .typeSocket
                    && (attributes?[.posixPermissions] as? Int) == 0o777
            }
            let parent = try FileManager.default.attributesOfItem(atPath: directory + "/nested/public")
            #expect(parent[.posixPermissions] as? Int == 0o755)
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }

    @Test("a stale socket is replaced; a regular file at the path is refused and left alone")
    func existingFiles() async throws {
        let directory = "/tmp/lineage-ep-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }

        // A socket left behind by a killed agent, made here by binding and closing a plain socket.
        let stale = directory + "/stale.sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in stale.utf8.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        #expect(bound == 0)
        let server = WorkloadEndpointServer(configuration: .init(socketPath: stale), provider: try Self.provider())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await eventually("stale socket replaced", timeout: .seconds(10)) {
                (try? FileManager.default.attributesOfItem(atPath: stale)[.posixPermissions] as? Int) == 0o777
            }
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }

        let regular = directory + "/file.sock"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: regular))
        let refused = WorkloadEndpointServer(configuration: .init(socketPath: regular), provider: try Self.provider())
        await #expect(throws: WorkloadEndpointStartError.self) { try await refused.run() }
        #expect(try String(contentsOfFile: regular, encoding: .utf8) == "keep me")
    }
}
