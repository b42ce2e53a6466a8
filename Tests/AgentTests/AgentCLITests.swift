import Agent
import Foundation
import SPIFFE
import Testing

/// The `lineage-agent` binary end to end: `run -config` (config → runtime wiring) against the
/// test-double server, then `healthcheck`, `api fetch x509 -write`, `api fetch jwt`,
/// `api validate jwt` and py-spiffe against its socket, then SIGTERM.
@Suite("lineage-agent CLI against a test-double server", .serialized, .timeLimit(.minutes(3)))
struct AgentCLITests {
    static var binary: String { ExternalProcess.repositoryRoot.appendingPathComponent(".build/debug/lineage-agent").path }

    @Test("run -config -joinToken serves workloads; healthcheck and api verbs print SPIRE's layout; SIGTERM stops it")
    func runAndClientVerbs() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("cli-token")
        let agentID = try authority.id("/spire/agent/join_token/cli-token")
        fake.upsert([try fake.entry("e1", path: "/cli", parent: agentID, selectors: ["unix:uid:\(geteuid())"])])
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let socket = directory + "/public/api.sock"
        try authority.x509Bundle.pemEncoded().write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)

        try await fake.serve { port in
            let config = """
                agent {
                    trust_domain = "example.org"
                    server_address = "127.0.0.1"
                    server_port = \(port)
                    data_dir = "\(directory)/data"
                    socket_path = "\(socket)"
                    trust_bundle_path = "\(directory)/bundle.pem"
                    log_level = "DEBUG"
                }
                plugins {
                    NodeAttestor "join_token" { plugin_data {} }
                    KeyManager "memory" { plugin_data {} }
                    WorkloadAttestor "unix" { plugin_data {} }
                }
                """
            try config.write(toFile: directory + "/agent.conf", atomically: true, encoding: .utf8)
            let agent = try ExternalProcess.start(
                Self.binary, ["run", "-config", directory + "/agent.conf", "-joinToken", "cli-token"],
                directory: directory, name: "agent")
            defer { agent.stop() }
            do {
                try await eventually("agent socket", timeout: .seconds(60)) {
                    guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited:\n\(agent.stderr)") }
                    return FileManager.default.fileExists(atPath: socket)
                }

                let health = try await ExternalProcess.run(
                    Self.binary, ["healthcheck", "-socketPath", socket], directory: directory, name: "health")
                #expect(health.status == 0)
                #expect(health.stdout == "Agent is healthy.\n")

                let out = directory + "/out"
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let fetch = try await ExternalProcess.run(
                    Self.binary, ["api", "fetch", "x509", "-socketPath", socket, "-write", out], directory: directory, name: "fetch")
                #expect(fetch.status == 0, "\(fetch.stderr)")
                #expect(fetch.stdout.hasPrefix("Received 1 svid after "))
                #expect(fetch.stdout.contains("SPIFFE ID:\t\tspiffe://example.org/cli\n"))
                #expect(fetch.stdout.contains("CA #1 Valid Until:\t"))
                #expect(fetch.stdout.contains("Writing key #0 to file \(out)/svid.0.key."))
                let written = try X509SVID.load(certificatesPath: out + "/svid.0.pem", privateKeyPath: out + "/svid.0.key")
                #expect(written.id.string == "spiffe://example.org/cli")
                #expect(try X509Bundle(trustDomain: authority.trustDomain, pemEncoded: String(contentsOfFile: out + "/bundle.0.pem", encoding: .utf8)) == authority.x509Bundle)
                #expect(AgentRuntimeTests.mode(out + "/svid.0.key") == 0o600)

                let jwt = try await ExternalProcess.run(
                    Self.binary, ["api", "fetch", "jwt", "-audience", "spiffe://example.org/api", "-socketPath", socket],
                    directory: directory, name: "jwt")
                #expect(jwt.status == 0, "\(jwt.stderr)")
                #expect(jwt.stdout.hasPrefix("token(spiffe://example.org/cli):\n\t"))
                #expect(jwt.stdout.contains("bundle(spiffe://example.org):\n\t"))
                let jwtLines = jwt.stdout.split(separator: "\n")
                try #require(jwtLines.count > 1, "no token line in: \(jwt.stdout)")
                let token = String(jwtLines[1].dropFirst())

                let valid = try await ExternalProcess.run(
                    Self.binary, ["api", "validate", "jwt", "-audience", "spiffe://example.org/api", "-svid", token, "-socketPath", socket],
                    directory: directory, name: "validate")
                #expect(valid.status == 0, "\(valid.stderr)")
                #expect(valid.stdout.hasPrefix("SVID is valid.\nSPIFFE ID : spiffe://example.org/cli\n"))

                let invalid = try await ExternalProcess.run(
                    Self.binary, ["api", "validate", "jwt", "-audience", "other", "-svid", token, "-socketPath", socket],
                    directory: directory, name: "invalid")
                #expect(invalid.status == 1)
                #expect(invalid.stderr.contains("InvalidArgument") || invalid.stderr.contains("invalid"))

                let json = try await ExternalProcess.run(
                    Self.binary, ["api", "fetch", "x509", "-output", "json", "-socketPath", socket], directory: directory, name: "json")
                #expect(json.stdout.contains("\"spiffeId\":\"spiffe://example.org/cli\""), "\(json.stdout.prefix(300))")

                let watch = try ExternalProcess.start(Self.binary, ["api", "watch", "-socketPath", socket], directory: directory, name: "watch")
                defer { watch.stop() }
                try await eventually("watch prints the first update", timeout: .seconds(30)) {
                    watch.stdout.contains("Received 1 svid after") && watch.stdout.contains("spiffe://example.org/cli")
                }
                fake.upsert([try fake.entry("e2", path: "/cli2", parent: agentID, selectors: ["unix:uid:\(geteuid())"])])
                try await eventually("watch prints the update", timeout: .seconds(30)) { watch.stdout.contains("Received 2 svids after") }
                watch.stop()

                // A real workload client on the same socket.
                let python = try ExternalProcess.python()
                let py = try await ExternalProcess.run(
                    python, [ExternalProcess.interopDirectory + "/workload_client.py", "x509", socket],
                    directory: directory, name: "py", timeout: .seconds(90))
                let result = try decodeJSONObject(py)
                let svids = try #require(result["svids"] as? [[String: Any]])
                #expect(svids.map { $0["id"] as? String } == ["spiffe://example.org/cli", "spiffe://example.org/cli2"])
                #expect(svids.first?["verified"] as? Bool == true)
            } catch {
                Issue.record("agent stderr:\n\(agent.stderr.suffix(6_000))")
                throw error
            }

            agent.process.terminate()
            let exit = try await agent.wait(timeout: .seconds(20))
            #expect(exit.status == 0, "\(exit.stderr.suffix(3_000))")
            #expect(!FileManager.default.fileExists(atPath: socket))
            #expect(exit.stderr.contains("msg=\"Node attestation was successful\""))
            #expect(exit.stderr.contains("msg=\"Received signal; shutting down\""))
        }
    }
}
