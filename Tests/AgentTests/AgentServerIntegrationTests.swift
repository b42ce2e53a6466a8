import Agent
import Config
import Foundation
import SPIFFE
import Testing
import Wire

/// `lineage-agent run` against the real `lineage-server run` (both binaries from this build):
/// the contract between them, end to end, the way an operator drives SPIRE's quickstart.
@Suite("lineage-agent against lineage-server", .serialized, .timeLimit(.minutes(3)))
struct AgentServerIntegrationTests {
    static func binary(_ name: String) -> String { LineageServerProcess.binary(name) }

    /// `lineage-agent run -config DIR/agent.conf` under `umask 000`, so every restrictive mode on
    /// what it writes is its own doing (SPIRE's SPI-01-002 shipped keys world-readable).
    static func startAgent(in directory: String, _ arguments: [String], name: String) throws -> ExternalProcess.Running {
        try ExternalProcess.start(
            "/bin/sh",
            ["-c", "umask 000 && exec \"$0\" \"$@\"", binary("lineage-agent"), "run", "-config", directory + "/agent.conf"] + arguments,
            directory: directory, name: name)
    }

    /// Waits for the agent's socket, then fetches an X509-SVID and a JWT-SVID as a workload.
    static func expectServing(_ agent: ExternalProcess.Running, directory: String, round: String) async throws {
        let socket = directory + "/agent.sock"
        try await eventually("agent socket", timeout: .seconds(60)) {
            guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited:\n\(agent.stderr.suffix(4_000))") }
            return FileManager.default.fileExists(atPath: socket)
        }
        let fetch = try await ExternalProcess.run(
            binary("lineage-agent"), ["api", "fetch", "x509", "-socketPath", socket], directory: directory, name: "fetch-\(round)")
        #expect(fetch.status == 0, "\(fetch.stderr)")
        #expect(fetch.stdout.contains("SPIFFE ID:\t\tspiffe://example.org/workload\n"))
        let jwt = try await ExternalProcess.run(
            binary("lineage-agent"), ["api", "fetch", "jwt", "-audience", "db", "-socketPath", socket],
            directory: directory, name: "jwt-\(round)")
        #expect(jwt.stdout.hasPrefix("token(spiffe://example.org/workload):"), "\(jwt.stderr)")
    }

    /// Writes `agent.conf` (bootstrap from `bundle.pem`, the given KeyManager block), starts the
    /// agent with `token` and waits until it serves.
    static func startServingAgent(
        _ server: LineageServerProcess, _ directory: String, keyManager: String, token: String, settings: String = ""
    ) async throws -> ExternalProcess.Running {
        try server.agentConfig(
            directory: directory, bootstrap: "trust_bundle_path = \"\(directory)/bundle.pem\"\n\(settings)", keyManager: keyManager)
            .write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
        let agent = try startAgent(in: directory, ["-joinToken", token], name: "agent-0")
        do {
            try await expectServing(agent, directory: directory, round: "0")
        } catch {
            agent.stop()
            Issue.record("agent stderr:\n\(agent.stderr.suffix(4_000))")
            throw error
        }
        return agent
    }

    /// A fresh directory with a running server, its bundle in `bundle.pem`, and a join token whose
    /// alias `spiffe://example.org/myagent` parents a workload entry for this uid.
    static func withServer(
        extraPlugins: (String) async throws -> String = { _ in "" }, _ body: (LineageServerProcess, String, String) async throws -> Void
    ) async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await LineageServerProcess.start(in: directory, extraPlugins: try await extraPlugins(directory))
        defer { server.stop() }
        try await server.bundlePEM().write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        let token = try await server.tokenWithWorkloadEntry(alias: "spiffe://example.org/myagent", workload: "spiffe://example.org/workload")
        do {
            try await body(server, directory, token)
        } catch {
            Issue.record("server stderr:\n\(server.process.stderr.suffix(4_000))")
            throw error
        }
    }

    @Test("token generate -spiffeID + entry create → agent attests, syncs, serves; with KeyManager disk a restart reuses its SVID")
    func quickstart() async throws {
        try await Self.withServer { server, directory, token in
            try server.agentConfig(
                directory: directory, bootstrap: "trust_bundle_path = \"\(directory)/bundle.pem\"",
                keyManager: "KeyManager \"disk\" { plugin_data { directory = \"\(directory)/adata/keys\" } }"
            ).write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
            for (round, arguments) in [["-joinToken", token], []].enumerated() {
                let agent = try Self.startAgent(in: directory, arguments, name: "agent-\(round)")
                defer { agent.stop() }
                do {
                    try await Self.expectServing(agent, directory: directory, round: "\(round)")
                } catch {
                    Issue.record("agent stderr:\n\(agent.stderr.suffix(4_000))")
                    throw error
                }
                agent.process.terminate()
                let exit = try await agent.wait(timeout: .seconds(20))
                #expect(exit.status == 0)
                #expect(exit.stderr.contains(round == 0 ? "Node attestation was successful" : "Reusing the stored agent SVID"))
                // Written under umask 000, still private.
                for (path, mode) in [("adata", 0o700), ("adata/keys", 0o700), ("adata/keys/agent_svid.key", 0o600),
                                     ("adata/agent_svid.pem", 0o600), ("adata/bundle.pem", 0o600)] {
                    #expect(AgentRuntimeTests.mode(directory + "/" + path) == mode, "\(path)")
                }
            }
        }
    }

    @Test("KeyManager memory: a restarted join_token agent has lost its key and says a new join token is needed")
    func memoryKeyManagerRestart() async throws {
        try await Self.withServer { server, directory, token in
            let first = try await Self.startServingAgent(
                server, directory, keyManager: "KeyManager \"memory\" { plugin_data {} }", token: token)
            defer { first.stop() }
            #expect(!FileManager.default.fileExists(atPath: directory + "/adata/agent_svid.key"))
            first.process.terminate()
            let firstExit = try await first.wait(timeout: .seconds(20))
            #expect(firstExit.stderr.contains("Node attestation is not reattestable and KeyManager"), "\(firstExit.stderr.suffix(2_000))")

            // The operator restarts it the same way (the token is spent).
            let second = try Self.startAgent(in: directory, ["-joinToken", token], name: "agent-1")
            defer { second.stop() }
            let exit = try await second.wait(timeout: .seconds(60))
            #expect(exit.status != 0)
            #expect(exit.stderr.contains("private key is gone"), "\(exit.stderr.suffix(2_000))")
            #expect(exit.stderr.contains("lineage-server token generate"), "\(exit.stderr.suffix(2_000))")
        }
    }

    @Test("agent evict: a join_token agent (not reattestable) stops with a clear error, and a restart does not loop")
    func evictedJoinTokenAgentStops() async throws {
        try await Self.withServer { server, directory, token in
            let agent = try await Self.startServingAgent(
                server, directory, keyManager: "KeyManager \"disk\" { plugin_data { directory = \"\(directory)/adata\" } }",
                token: token)
            defer { agent.stop() }
            let evict = try await server.cli(["agent", "evict", "-spiffeID", "spiffe://example.org/spire/agent/join_token/\(token)"])
            #expect(evict.status == 0, "\(evict.stderr)")
            let exit = try await agent.wait(timeout: .seconds(60))
            #expect(exit.status != 0)
            #expect(exit.stderr.contains("refused the agent SVID"), "\(exit.stderr.suffix(2_000))")
            #expect(exit.stderr.contains("generate a new one"), "\(exit.stderr.suffix(2_000))")
            #expect(!FileManager.default.fileExists(atPath: directory + "/adata/agent_svid.pem"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/adata/agent_svid.key"))

            // Restarted by a supervisor with the same (spent) token: one clear refusal, then exit.
            let again = try Self.startAgent(in: directory, ["-joinToken", token], name: "agent-1")
            defer { again.stop() }
            let againExit = try await again.wait(timeout: .seconds(60))
            #expect(againExit.status != 0)
            #expect(againExit.stderr.contains("node attestation was refused"), "\(againExit.stderr.suffix(2_000))")
            #expect(againExit.stderr.contains("lineage-server token generate"), "\(againExit.stderr.suffix(2_000))")
        }
    }

    @Test("trust_bundle_url: the agent downloads the server's bundle over https, attests and serves")
    func bootstrapFromURL() async throws {
        try await Self.withServer { server, directory, token in
            let bundleServer = try BundleHTTPSServer(answers: ["/bundle.pem": .init(body: Array(try await server.bundlePEM().utf8))])
            try await bundleServer.serve { bundlePort in
                let text = server.agentConfig(
                    directory: directory, bootstrap: "trust_bundle_url = \"https://127.0.0.1:\(bundlePort)/bundle.pem\"",
                    keyManager: "KeyManager \"disk\" { plugin_data { directory = \"\(directory)/adata\" } }")
                var configuration = try AgentRuntime.Configuration(
                    try AgentConfig.parse(text, file: "agent.conf", overrides: .init(joinToken: token)))
                // The loopback host's CA stands in for the system roots a real deployment uses.
                configuration.bootstrapBundleDownload?.download.trustRoots = [bundleServer.rootCertificate]
                try await AgentHarness.with(configuration, directory: directory) { harness in
                    try await eventually("agent ready", timeout: .seconds(60)) { harness.runtime.isServingWorkloads }
                    #expect(harness.runtime.agentSVID?.id.string == "spiffe://example.org/spire/agent/join_token/\(token)")
                    #expect(try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/workload"])
                }
            }
            // The synced bundle is stored: the next start needs no download.
            #expect(FileManager.default.fileExists(atPath: directory + "/adata/bundle.pem"))
        }
    }

    @Test("UpstreamAuthority disk: the agent trusts the upstream root alone; workload SVIDs carry the server CA and verify with openssl; log_file")
    func upstreamAuthority() async throws {
        try await Self.withServer(extraPlugins: { directory in
            let openssl = try await ExternalProcess.run("/usr/bin/openssl", [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                "-keyout", directory + "/root.key", "-out", directory + "/root.pem", "-subj", "/O=Upstream/CN=Root",
                "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ], directory: directory, name: "openssl-root")
            guard openssl.status == 0 else { throw ExternalProcess.Failure(description: openssl.stderr) }
            return """
                UpstreamAuthority "disk" {
                    plugin_data {
                        cert_file_path = "\(directory)/root.pem"
                        key_file_path = "\(directory)/root.key"
                    }
                }
                """
        }) { server, directory, token in
            let fingerprint = { @Sendable (path: String) async throws -> String in
                try await ExternalProcess.run(
                    "/usr/bin/openssl", ["x509", "-in", path, "-noout", "-fingerprint", "-sha256"], directory: directory,
                    name: "fingerprint-\(UUID().uuidString.prefix(4))").stdout
            }
            let root = try await fingerprint(directory + "/root.pem")
            #expect(try await fingerprint(directory + "/bundle.pem") == root, "the bundle is the upstream root")
            let agent = try await Self.startServingAgent(
                server, directory, keyManager: "KeyManager \"memory\" { plugin_data {} }", token: token,
                settings: "log_file = \"\(directory)/agent.log\"")
            defer { agent.stop() }
            // SPIRE's log_file: the lines go to the file, not to standard error.
            #expect(try String(contentsOfFile: directory + "/agent.log", encoding: .utf8).contains("Node attestation was successful"))
            #expect(!agent.stderr.contains("Node attestation was successful"))
            let out = directory + "/fetched"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let fetch = try await ExternalProcess.run(
                Self.binary("lineage-agent"), ["api", "fetch", "x509", "-write", out, "-socketPath", directory + "/agent.sock"],
                directory: directory, name: "fetch-upstream")
            #expect(fetch.status == 0, "\(fetch.stderr)")
            let chain = try String(contentsOfFile: out + "/svid.0.pem", encoding: .utf8)
            #expect(chain.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 2, "leaf and the upstream-signed server CA")
            #expect(try await fingerprint(out + "/bundle.0.pem") == root)
            let verify = try await ExternalProcess.run(
                "/usr/bin/openssl", ["verify", "-CAfile", out + "/bundle.0.pem", "-untrusted", out + "/svid.0.pem", out + "/svid.0.pem"],
                directory: directory, name: "openssl-verify")
            #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        }
    }

    @Test("x509pop: the agent attests with its node certificate, serves a workload through a node alias entry, re-attests by itself after agent evict, and stops after agent ban")
    func x509popReattestation() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await ExternalProcess.makeX509PoPPKI(in: directory)
        let agentSocket = directory + "/agent.sock"
        let server = try await LineageServerProcess.start(
            in: directory,
            extraPlugins: #"NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "\#(directory)/node-ca.pem" } }"#)
        defer { server.stop() }
        try await server.bundlePEM().write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        // SPIRE's way to give x509pop nodes workloads: a node alias matching a node selector.
        let alias = try await server.cli(
            ["entry", "create", "-node", "-spiffeID", "spiffe://example.org/nodes/eu-1", "-selector", "x509pop:san:datacenter:eu-1"])
        #expect(alias.status == 0, "\(alias.stderr)")
        let entry = try await server.cli(
            ["entry", "create", "-parentID", "spiffe://example.org/nodes/eu-1", "-spiffeID", "spiffe://example.org/workload",
             "-selector", "unix:uid:\(geteuid())"])
        #expect(entry.status == 0, "\(entry.stderr)")
        try server.agentConfig(
            directory: directory, bootstrap: "trust_bundle_path = \"\(directory)/bundle.pem\"",
            keyManager: #"KeyManager "memory" { plugin_data {} }"#,
            nodeAttestor: """
                NodeAttestor "x509pop" {
                    plugin_data {
                        private_key_path = "\(directory)/node.key"
                        certificate_path = "\(directory)/node.pem"
                        intermediates_path = "\(directory)/node-intermediate.pem"
                    }
                }
                """
        ).write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
        let fingerprint = try await ExternalProcess.run(
            "/usr/bin/openssl", ["x509", "-in", directory + "/node.pem", "-noout", "-fingerprint", "-sha1"],
            directory: directory, name: "fingerprint")
        let agentID = "spiffe://example.org/spire/agent/x509pop/"
            + (fingerprint.stdout.split(separator: "=").last ?? "").replacingOccurrences(of: ":", with: "").lowercased()
                .trimmingCharacters(in: .whitespacesAndNewlines)

        let agent = try Self.startAgent(in: directory, [], name: "agent")
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
            let evict = try await server.cli(["agent", "evict", "-spiffeID", agentID])
            #expect(evict.status == 0, "\(evict.stderr)")
            try await eventually("agent re-attests after evict", timeout: .seconds(60)) {
                guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited") }
                return attestations() == 2
            }
            #expect(agent.stderr.contains("attesting again"))
            let shown = try await server.cli(["agent", "show", "-spiffeID", agentID])
            #expect(shown.status == 0 && shown.stdout.contains("Attestation type  : x509pop"), "\(shown.stdout)\(shown.stderr)")
            try await eventually("workload still served", timeout: .seconds(30)) { try await fetchWorkload("fetch-again") }

            // Banned: the re-attestation is refused and the agent stops with an error.
            let ban = try await server.cli(["agent", "ban", "-spiffeID", agentID])
            #expect(ban.status == 0, "\(ban.stderr)")
            let exit = try await agent.wait(timeout: .seconds(60))
            #expect(exit.status != 0)
            #expect(exit.stderr.contains("banned"), "\(exit.stderr.suffix(2_000))")
            #expect(attestations() == 2)
        } catch {
            Issue.record("agent stderr:\n\(agent.stderr.suffix(4_000))\nserver stderr:\n\(server.process.stderr.suffix(4_000))")
            throw error
        }
    }
}
