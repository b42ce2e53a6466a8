@testable import Agent
import Foundation
import SPIFFE
import Synchronization
import Testing
import Wire

/// The agent's failover rules against two in-process test-double servers sharing one CA and one
/// log history, where the second member lags: it has not yet applied the agent's attestation,
/// then has not yet applied the latest entries. Deterministic stand-ins for what a real follower
/// does for a few milliseconds after a leader dies (AgentClusterTests runs the real thing).
@Suite("Agent failover between members", .serialized, .timeLimit(.minutes(2)))
struct AgentFailoverTests {
    static let me = "unix:uid:\(geteuid())"

    @Test("a lagging member's refusal and its older state are not taken as the cluster's; the agent serves what it has until the member catches up")
    func laggingMember() async throws {
        let authority = try TestAuthority("example.org")
        let ahead = try FakeLineageServer(authority: authority)
        let behind = try FakeLineageServer(authority: authority)
        ahead.addJoinToken("token-9")
        let agentID = try authority.id("/spire/agent/join_token/token-9")
        let e1 = try ahead.entry("e1", path: "/one", parent: agentID, selectors: [Self.me])
        let e2 = try ahead.entry("e2", path: "/two", parent: agentID, selectors: [Self.me])
        let e3 = try ahead.entry("e3", path: "/three", parent: agentID, selectors: [Self.me])
        // One log: both members applied e1 (revision 2); only `ahead` applied e2 (revision 3).
        ahead.upsert([e1])
        behind.upsert([e1])
        ahead.upsert([e2])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }

        try await behind.serve { behindPort in
            let (portStream, portContinuation) = AsyncStream.makeStream(of: Int.self)
            let (stopStream, stop) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await ahead.serve { port in
                        portContinuation.yield(port)
                        for await _ in stopStream {}
                    }
                }
                var iterator = portStream.makeAsyncIterator()
                let aheadPort = try #require(await iterator.next())
                var configuration = AgentHarness.configuration(authority: authority, port: aheadPort, directory: directory, token: "token-9")
                configuration.servers = [
                    ServerEndpoint(host: "127.0.0.1", port: aheadPort), ServerEndpoint(host: "127.0.0.1", port: behindPort),
                ]
                configuration.failover = FailoverPolicy.Settings(
                    switchDelay: .milliseconds(5)...(.milliseconds(20)), roundBase: .milliseconds(100), roundCap: .milliseconds(400))
                let error = try await AgentHarness.with(configuration, directory: directory) { harness in
                    // Attestation lands on `ahead` whichever member the agent drew first: the
                    // other's refusal of the token is not final while a member has not refused.
                    try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                    #expect(try await harness.fetchX509().svids.count == 2)
                    #expect(harness.runtime.cache.revision == 3)

                    // `ahead` goes away. `behind` has not applied the attestation: it refuses the
                    // agent SVID, which no member refused before and `ahead` accepted.
                    stop.finish()
                    try await eventually("a refusal by the lagging member", timeout: .seconds(20)) {
                        harness.logs.all.contains { $0.contains("may not have applied the attestation or renewal yet") }
                    }
                    #expect(try await harness.fetchX509().svids.count == 2, "cached SVIDs are still served")

                    // It applies the attestation but not e2 yet: its revision 2 is older than the
                    // agent's 3, refused whole — e2's SVID is not dropped.
                    behind.state.withLock { _ = $0.agents.insert(agentID) }
                    try await eventually("the older state refused", timeout: .seconds(20)) {
                        harness.logs.all.contains { $0.contains("the server is behind the agent") }
                    }
                    #expect(try await harness.fetchX509().svids.count == 2)
                    #expect(harness.runtime.cache.revision == 3)

                    // It catches up (e2 at 3) and moves on (e3 at 4): the stream resumes from 3.
                    behind.upsert([e2])
                    behind.upsert([e3])
                    try await eventually("e3 served from the lagging member", timeout: .seconds(20)) {
                        try await harness.fetchX509().svids.count == 3
                    }
                    #expect(behind.state.withLock { $0.watchRequests }.allSatisfy { $0 == 3 }, "resumed from revision 3")
                    #expect(harness.logs.all.contains { $0.contains("Synced with server") && $0.contains("127.0.0.1:\(behindPort)") })
                }
                #expect(error == nil, "\(String(describing: error))")
                try await group.waitForAll()
            }
        }
    }

    @Test("every member refusing the join token is final: the agent stops with the token error")
    func refusedEverywhere() async throws {
        let authority = try TestAuthority("example.org")
        let first = try FakeLineageServer(authority: authority)
        let second = try FakeLineageServer(authority: authority)
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logs = AgentHarness.LogSink()
        let message = try await first.serve { firstPort in
            try await second.serve { secondPort in
                var configuration = AgentHarness.configuration(authority: authority, port: firstPort, directory: directory, token: "spent")
                configuration.servers = [
                    ServerEndpoint(host: "127.0.0.1", port: firstPort), ServerEndpoint(host: "127.0.0.1", port: secondPort),
                ]
                configuration.failover = FailoverPolicy.Settings(
                    switchDelay: .milliseconds(5)...(.milliseconds(20)), roundBase: .milliseconds(100), roundCap: .milliseconds(400))
                return await AgentHarness.runUntilItFails(configuration, logs: logs)
            }
        }
        #expect(message.contains("node attestation was refused"), "\(message)")
        // Both were asked before giving up.
        #expect(logs.all.filter { $0.contains("A server refused attestation; trying another server") }.count == 1)
    }
}
