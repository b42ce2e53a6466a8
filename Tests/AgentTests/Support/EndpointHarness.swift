import Agent
import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

/// Starts a `WorkloadEndpointServer` on a socket in a fresh temporary directory, runs the test
/// body, shuts the server down (bounded in time) and removes the directory.
struct EndpointHarness: Sendable {
    let directory: String
    let socketPath: String
    let provider: StaticIdentityProvider
    let server: WorkloadEndpointServer

    struct Timeout: Error, CustomStringConvertible {
        let what: String
        var description: String { "timed out: \(what)" }
    }

    static func with(
        provider: StaticIdentityProvider, sds: AgentConfig.SDS = AgentConfig.SDS(),
        _ body: @Sendable (EndpointHarness) async throws -> Void
    ) async throws {
        let directory = "/tmp/lineage-wl-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socketPath = directory + "/public/api.sock"
        let server = WorkloadEndpointServer(
            configuration: .init(socketPath: socketPath, sds: sds), provider: provider)
        let harness = EndpointHarness(directory: directory, socketPath: socketPath, provider: provider, server: server)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            do {
                try await eventually("socket \(socketPath) mode 0777", timeout: .seconds(15)) {
                    // FileManager rather than lstat: with NIO in the target, `stat` resolves ambiguously.
                    let attributes = try? FileManager.default.attributesOfItem(atPath: socketPath)
                    return attributes?[.type] as? FileAttributeType == .typeSocket
                        && (attributes?[.posixPermissions] as? Int ?? 0) & 0o777 == 0o777
                }
                try await body(harness)
            } catch {
                server.beginGracefulShutdown()
                group.cancelAll()
                throw error
            }
            server.beginGracefulShutdown()
            // Bounded by the suites' time limits: a stream that ignores shutdown fails the test.
            try await group.waitForAll()
        }
    }

    /// A grpc-swift client on the endpoint's socket.
    func withClient<Result: Sendable>(
        _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext),
            handleClient: body)
    }
}

/// The Workload API's security header.
let workloadHeader: Metadata = ["workload.spiffe.io": "true"]

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(_ what: String, timeout: Duration, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw EndpointHarness.Timeout(what: what)
}

/// Runs `body`, failing with `Timeout` if it takes longer than `timeout`.
func withTimeout<Result: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw EndpointHarness.Timeout(what: what)
        }
        return result
    }
}
