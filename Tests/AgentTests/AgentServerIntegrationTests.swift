import Agent
import Foundation
import Testing

/// `lineage-agent run` against the real `lineage-server run` (both binaries from this build):
/// the contract between them, end to end, the way an operator drives SPIRE's quickstart.
@Suite("lineage-agent against lineage-server", .serialized, .timeLimit(.minutes(3)))
struct AgentServerIntegrationTests {
    static func binary(_ name: String) -> String {
        ExternalProcess.repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    @Test("token generate -spiffeID + entry create → agent attests, syncs, serves; a restart reuses its SVID")
    func quickstart() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Int.random(in: 20_000...40_000)
        let serverSocket = directory + "/server.sock"
        let agentSocket = directory + "/agent.sock"
        try """
            server {
                bind_address = "127.0.0.1"
                bind_port = "\(port)"
                socket_path = "\(serverSocket)"
                trust_domain = "example.org"
                data_dir = "\(directory)/sdata"
                ca_ttl = "24h"
                default_x509_svid_ttl = "1h"
            }
            plugins {
                KeyManager "disk" { plugin_data { keys_path = "\(directory)/sdata/keys.json" } }
                NodeAttestor "join_token" { plugin_data {} }
            }
            """.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        let server = try ExternalProcess.start(
            Self.binary("lineage-server"), ["run", "-config", directory + "/server.conf"], directory: directory, name: "server")
        defer { server.stop() }
        let serverCLI = { @Sendable (arguments: [String], name: String) async throws -> ExternalProcess.Output in
            try await ExternalProcess.run(
                Self.binary("lineage-server"), arguments + ["-socketPath", serverSocket], directory: directory, name: name)
        }
        try await eventually("server healthy", timeout: .seconds(60)) {
            try await serverCLI(["healthcheck"], "server-health").status == 0
        }
        let bundle = try await serverCLI(["bundle", "show"], "bundle")
        try bundle.stdout.write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        let token = try await serverCLI(["token", "generate", "-spiffeID", "spiffe://example.org/myagent"], "token")
        let tokenValue = try #require(token.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let entry = try await serverCLI(
            ["entry", "create", "-parentID", "spiffe://example.org/myagent", "-spiffeID", "spiffe://example.org/workload",
             "-selector", "unix:uid:\(geteuid())"], "entry")
        #expect(entry.status == 0, "\(entry.stderr)")

        try """
            agent {
                trust_domain = "example.org"
                server_address = "127.0.0.1"
                server_port = "\(port)"
                data_dir = "\(directory)/adata"
                socket_path = "\(agentSocket)"
                trust_bundle_path = "\(directory)/bundle.pem"
            }
            plugins {
                NodeAttestor "join_token" { plugin_data {} }
                KeyManager "memory" { plugin_data {} }
                WorkloadAttestor "unix" { plugin_data {} }
            }
            """.write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
        for (round, arguments) in [["-joinToken", tokenValue], []].enumerated() {
            let agent = try ExternalProcess.start(
                Self.binary("lineage-agent"), ["run", "-config", directory + "/agent.conf"] + arguments,
                directory: directory, name: "agent-\(round)")
            defer { agent.stop() }
            do {
                try await eventually("agent socket", timeout: .seconds(60)) {
                    guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited") }
                    return FileManager.default.fileExists(atPath: agentSocket)
                }
                let fetch = try await ExternalProcess.run(
                    Self.binary("lineage-agent"), ["api", "fetch", "x509", "-socketPath", agentSocket],
                    directory: directory, name: "fetch-\(round)")
                #expect(fetch.status == 0, "\(fetch.stderr)")
                #expect(fetch.stdout.contains("SPIFFE ID:\t\tspiffe://example.org/workload\n"))
                let jwt = try await ExternalProcess.run(
                    Self.binary("lineage-agent"), ["api", "fetch", "jwt", "-audience", "db", "-socketPath", agentSocket],
                    directory: directory, name: "jwt-\(round)")
                #expect(jwt.stdout.hasPrefix("token(spiffe://example.org/workload):"), "\(jwt.stderr)")
            } catch {
                Issue.record("agent stderr:\n\(agent.stderr.suffix(4_000))\nserver stderr:\n\(server.stderr.suffix(4_000))")
                throw error
            }
            agent.process.terminate()
            let exit = try await agent.wait(timeout: .seconds(20))
            #expect(exit.status == 0)
            #expect(exit.stderr.contains(round == 0 ? "Node attestation was successful" : "Reusing the stored agent SVID"))
        }
    }
}
