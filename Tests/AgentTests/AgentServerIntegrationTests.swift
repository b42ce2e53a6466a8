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

    typealias ServerCLI = @Sendable (_ arguments: [String], _ name: String) async throws -> ExternalProcess.Output

    /// A running `lineage-server` in `directory` with `nodeAttestors` configured, healthy, and its
    /// bundle written to `bundle.pem`; `cli` runs admin verbs on its socket.
    static func startServer(directory: String, port: Int, nodeAttestors: String) async throws
        -> (server: ExternalProcess.Running, cli: ServerCLI)
    {
        let serverSocket = directory + "/server.sock"
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
                \(nodeAttestors)
            }
            """.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        let server = try ExternalProcess.start(
            Self.binary("lineage-server"), ["run", "-config", directory + "/server.conf"], directory: directory, name: "server")
        let serverCLI: ServerCLI = { arguments, name in
            try await ExternalProcess.run(
                Self.binary("lineage-server"), arguments + ["-socketPath", serverSocket], directory: directory, name: name)
        }
        do {
            try await eventually("server healthy", timeout: .seconds(60)) {
                try await serverCLI(["healthcheck"], "server-health").status == 0
            }
            let bundle = try await serverCLI(["bundle", "show"], "bundle")
            try bundle.stdout.write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        } catch {
            server.stop()
            throw error
        }
        return (server, serverCLI)
    }

    /// `agent.conf` for an agent of `example.org` on `port` with `nodeAttestor` configured.
    static func writeAgentConfig(directory: String, port: Int, nodeAttestor: String) throws {
        try """
            agent {
                trust_domain = "example.org"
                server_address = "127.0.0.1"
                server_port = "\(port)"
                data_dir = "\(directory)/adata"
                socket_path = "\(directory)/agent.sock"
                trust_bundle_path = "\(directory)/bundle.pem"
            }
            plugins {
                \(nodeAttestor)
                KeyManager "memory" { plugin_data {} }
                WorkloadAttestor "unix" { plugin_data {} }
            }
            """.write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
    }

    @Test("token generate -spiffeID + entry create → agent attests, syncs, serves; a restart reuses its SVID")
    func quickstart() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = Int.random(in: 20_000...40_000)
        let agentSocket = directory + "/agent.sock"
        let (server, serverCLI) = try await Self.startServer(
            directory: directory, port: port, nodeAttestors: #"NodeAttestor "join_token" { plugin_data {} }"#)
        defer { server.stop() }
        let token = try await serverCLI(["token", "generate", "-spiffeID", "spiffe://example.org/myagent"], "token")
        let tokenValue = try #require(token.stdout.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        let entry = try await serverCLI(
            ["entry", "create", "-parentID", "spiffe://example.org/myagent", "-spiffeID", "spiffe://example.org/workload",
             "-selector", "unix:uid:\(geteuid())"], "entry")
        #expect(entry.status == 0, "\(entry.stderr)")

        try Self.writeAgentConfig(directory: directory, port: port, nodeAttestor: #"NodeAttestor "join_token" { plugin_data {} }"#)
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

    @Test("x509pop: the agent attests with its node certificate, serves a workload through a node alias entry, re-attests by itself after agent evict, and stops after agent ban")
    func x509popReattestation() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pki = try await ExternalProcess.run(
            "/bin/sh", [ExternalProcess.repositoryRoot.appendingPathComponent("Tests/Helpers/x509pop-pki.sh").path, directory],
            directory: directory, name: "pki")
        try #require(pki.status == 0, "\(pki.stderr)")
        let port = Int.random(in: 20_000...40_000)
        let agentSocket = directory + "/agent.sock"
        let (server, serverCLI) = try await Self.startServer(
            directory: directory, port: port,
            nodeAttestors: #"NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "\#(directory)/node-ca.pem" } }"#)
        defer { server.stop() }
        // SPIRE's way to give x509pop nodes workloads: a node alias matching a node selector.
        let alias = try await serverCLI(
            ["entry", "create", "-node", "-spiffeID", "spiffe://example.org/nodes/eu-1", "-selector", "x509pop:san:datacenter:eu-1"],
            "alias")
        #expect(alias.status == 0, "\(alias.stderr)")
        let entry = try await serverCLI(
            ["entry", "create", "-parentID", "spiffe://example.org/nodes/eu-1", "-spiffeID", "spiffe://example.org/workload",
             "-selector", "unix:uid:\(geteuid())"], "entry")
        #expect(entry.status == 0, "\(entry.stderr)")
        try Self.writeAgentConfig(
            directory: directory, port: port,
            nodeAttestor: """
                NodeAttestor "x509pop" {
                    plugin_data {
                        private_key_path = "\(directory)/node.key"
                        certificate_path = "\(directory)/node.pem"
                        intermediates_path = "\(directory)/node-intermediate.pem"
                    }
                }
                """)
        let fingerprint = try await ExternalProcess.run(
            "/usr/bin/openssl", ["x509", "-in", directory + "/node.pem", "-noout", "-fingerprint", "-sha1"],
            directory: directory, name: "fingerprint")
        let agentID = "spiffe://example.org/spire/agent/x509pop/"
            + (fingerprint.stdout.split(separator: "=").last ?? "").replacingOccurrences(of: ":", with: "").lowercased()
                .trimmingCharacters(in: .whitespacesAndNewlines)

        let agent = try ExternalProcess.start(
            Self.binary("lineage-agent"), ["run", "-config", directory + "/agent.conf"], directory: directory, name: "agent")
        defer { agent.stop() }
        let fetchWorkload = { @Sendable (name: String) async throws -> Bool in
            let fetch = try await ExternalProcess.run(
                Self.binary("lineage-agent"), ["api", "fetch", "x509", "-socketPath", agentSocket], directory: directory, name: name)
            return fetch.status == 0 && fetch.stdout.contains("SPIFFE ID:\t\tspiffe://example.org/workload\n")
        }
        let attestations = { @Sendable in agent.stderr.components(separatedBy: "Node attestation was successful").count - 1 }
        do {
            try await eventually("agent serves the workload", timeout: .seconds(60)) {
                guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited") }
                return FileManager.default.fileExists(atPath: agentSocket) ? try await fetchWorkload("fetch-first") : false
            }
            #expect(attestations() == 1)
            #expect(agent.stderr.contains(agentID), "the agent ID is the leaf's SHA-1 fingerprint")

            // Evicted: the server refuses the agent SVID; the agent proves itself again.
            let evict = try await serverCLI(["agent", "evict", "-spiffeID", agentID], "evict")
            #expect(evict.status == 0, "\(evict.stderr)")
            try await eventually("agent re-attests after evict", timeout: .seconds(60)) {
                guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited") }
                return attestations() == 2
            }
            #expect(agent.stderr.contains("attesting again"))
            let shown = try await serverCLI(["agent", "show", "-spiffeID", agentID], "show")
            #expect(shown.status == 0 && shown.stdout.contains("Attestation type  : x509pop"), "\(shown.stdout)\(shown.stderr)")
            try await eventually("workload still served", timeout: .seconds(30)) { try await fetchWorkload("fetch-again") }

            // Banned: the re-attestation is refused and the agent stops with an error.
            let ban = try await serverCLI(["agent", "ban", "-spiffeID", agentID], "ban")
            #expect(ban.status == 0, "\(ban.stderr)")
            let exit = try await agent.wait(timeout: .seconds(60))
            #expect(exit.status != 0)
            #expect(exit.stderr.contains("banned"), "\(exit.stderr.suffix(2_000))")
            #expect(attestations() == 2)
        } catch {
            Issue.record("agent stderr:\n\(agent.stderr.suffix(4_000))\nserver stderr:\n\(server.stderr.suffix(4_000))")
            throw error
        }
    }
}
