import Foundation
import Testing

/// The SPIRE server workflow against a real `lineage-server run`, through the CLI, with
/// openssl checking what the CA issues.
@Suite("Server workflow", .serialized)
struct ServerWorkflowTests {
    @Test("entry create/show, token generate, bundle show, healthcheck; entries survive SIGKILL")
    func spireWorkflow() async throws {
        let server = try ServerProcess()
        try await server.start()
        let socket = ["-socketPath", server.socketPath]
        let node = try await server.cli(["entry", "create", "-spiffeID", "spiffe://example.org/node1", "-node",
                                   "-selector", "k8s_psat:cluster:demo"] + socket)
        #expect(node.status == 0, "\(node.stderr)")
        #expect(node.stdout.contains("Parent ID               : spiffe://example.org/spire/server"))
        let workload = try await server.cli(["entry", "create", "-spiffeID", "spiffe://example.org/ns/default/sa/web",
                                       "-parentID", "spiffe://example.org/node1", "-selector", "k8s:ns:default",
                                       "-dns", "web.default"] + socket)
        #expect(workload.status == 0, "\(workload.stderr)")

        // Rejections: clear messages, nothing written.
        let duplicate = try await server.cli(["entry", "create", "-spiffeID", "spiffe://example.org/ns/default/sa/web",
                                        "-parentID", "spiffe://example.org/node1", "-selector", "k8s:ns:default"] + socket)
        #expect(duplicate.status == 1)
        #expect((duplicate.stdout + duplicate.stderr).contains("AlreadyExists"))
        let reserved = try await server.cli(["entry", "create", "-spiffeID", "spiffe://example.org/spire/agent/x",
                                       "-parentID", "spiffe://example.org/node1", "-selector", "a:b"] + socket)
        #expect(reserved.status == 1)
        #expect((reserved.stdout + reserved.stderr).contains("reserved"))
        let foreign = try await server.cli(["entry", "create", "-spiffeID", "spiffe://other.org/web",
                                      "-parentID", "spiffe://example.org/node1", "-selector", "a:b"] + socket)
        #expect(foreign.status == 1)
        #expect((foreign.stdout + foreign.stderr).contains("is not a member of trust domain"))
        // SPI-01-003: path normalization tricks are refused, not cleaned up.
        for trick in ["spiffe://example.org/a/../spire/server", "spiffe://example.org/./web", "spiffe://example.org//web"] {
            let result = try await server.cli(["entry", "create", "-spiffeID", trick, "-parentID", "spiffe://example.org/node1",
                                         "-selector", "a:b"] + socket)
            #expect(result.status == 1, "\(trick) was accepted")
        }

        let token = try await server.cli(["token", "generate", "-spiffeID", "spiffe://example.org/myagent", "-ttl", "600"] + socket)
        #expect(token.status == 0)
        #expect(token.stdout.hasPrefix("Token: "))
        let count = try await server.cli(["entry", "count"] + socket)
        #expect(count.stdout.contains("3 registration entries"), "\(count.stdout)")
        #expect(try await server.cli(["healthcheck"] + socket).stdout.contains("Server is healthy."))
        // SPIRE's health_checks listener: HTTP /live and /ready (python3 as the HTTP client).
        for path in ["/live", "/ready"] {
            let get = try await ServerProcess.run("/usr/bin/env", [
                "python3", "-c",
                "import urllib.request,sys; r=urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status, r.read().decode().strip())",
                "http://127.0.0.1:\(server.healthPort)\(path)",
            ])
            #expect(get.stdout.hasPrefix("200 {\""), "\(path): \(get.stdout)\(get.stderr)")
        }
        let metrics = try await ServerProcess.run("/usr/bin/env", [
            "python3", "-c", "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())",
            "http://127.0.0.1:\(server.metricsPort)/metrics",
        ]).stdout
        #expect(metrics.contains("lineage_entries 3"), "\(metrics)")
        #expect(metrics.contains("lineage_svids_signed_total{kind=\"x509\"}"), "\(metrics)")
        #expect(metrics.contains("lineage_log_commit_seconds_count "), "\(metrics)")

        // The bundle is a CA for the trust domain (openssl reads it).
        let bundle = try await server.cli(["bundle", "show"] + socket)
        #expect(bundle.status == 0)
        let bundlePath = server.directory + "/bundle.pem"
        try bundle.stdout.write(toFile: bundlePath, atomically: true, encoding: .utf8)
        let text = try await ServerProcess.run("/usr/bin/openssl", ["x509", "-in", bundlePath, "-noout", "-text"])
        #expect(text.stdout.contains("CA:TRUE"))
        #expect(text.stdout.contains("URI:spiffe://example.org"))

        // An SVID the CA issues verifies against the bundle; its SAN is exactly one SPIFFE ID.
        let svidDirectory = server.directory + "/minted"
        try FileManager.default.createDirectory(atPath: svidDirectory, withIntermediateDirectories: true)
        let mint = try await server.cli(["x509", "mint", "-spiffeID", "spiffe://example.org/minted", "-dns", "minted.example",
                                   "-write", svidDirectory] + socket)
        #expect(mint.status == 0, "\(mint.stderr)")
        let verify = try await ServerProcess.run("/usr/bin/openssl", ["verify", "-CAfile", bundlePath, svidDirectory + "/svid.pem"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let leaf = try await ServerProcess.run("/usr/bin/openssl", ["x509", "-in", svidDirectory + "/svid.pem", "-noout", "-ext", "subjectAltName", "-subject"])
        #expect(leaf.stdout.components(separatedBy: "URI:").count == 2, "\(leaf.stdout)")
        #expect(leaf.stdout.contains("URI:spiffe://example.org/minted"))
        #expect(leaf.stdout.contains("O = SPIRE"))
        #expect(leaf.stdout.contains("CN = minted.example"))

        // SPI-01-002: CA keys on disk are 0600 in a 0700 directory.
        let keys = try FileManager.default.attributesOfItem(atPath: server.dataDir + "/keys.json")
        #expect((keys[.posixPermissions] as? Int) == 0o600)

        // Every acknowledged entry survives a SIGKILL, and so does the CA.
        let before = try await server.cli(["entry", "show", "-output", "json"] + socket).stdout
        server.kill()
        try await server.start()
        let after = try await server.cli(["entry", "show", "-output", "json"] + socket).stdout
        #expect(before == after)
        let bundleAfter = try await server.cli(["bundle", "show"] + socket).stdout
        #expect(bundleAfter == bundle.stdout, "a restarted server with disk keys keeps its CA")
        #expect(try await server.cli(["log", "verify", "-dataDir", server.dataDir]).status == 0)
    }

    @Test("structured logs: JSON lines in log_file with time, level and msg for each decision; never a join token or a selector")
    func structuredLogs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logs-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logFile = directory + "/server.log"
        let server = try ServerProcess(extraSettings: "log_level = \"DEBUG\"\n    log_format = \"json\"\n    log_file = \"\(logFile)\"")
        defer { server.kill(); try? FileManager.default.removeItem(atPath: server.directory) }
        try await server.start()
        let socket = ["-socketPath", server.socketPath]
        let entry = try await server.cli(["entry", "create", "-spiffeID", "spiffe://example.org/web", "-parentID",
                                          "spiffe://example.org/node", "-selector", "unix:uid:4242"] + socket)
        #expect(entry.status == 0, "\(entry.stderr)")
        let token = try await server.cli(["token", "generate", "-ttl", "600"] + socket)
        let tokenValue = token.stdout.replacingOccurrences(of: "Token: ", with: "").trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!tokenValue.isEmpty)
        let out = server.directory + "/minted"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        #expect(try await server.cli(["x509", "mint", "-spiffeID", "spiffe://example.org/minted", "-write", out] + socket).status == 0)
        server.kill(SIGTERM)

        let text = try String(contentsOfFile: logFile, encoding: .utf8)
        var messages: [String: [String: String]] = [:]
        for line in text.split(separator: "\n") {
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "not a JSON object of strings: \(line)")
            #expect(object["time"] != nil && object["level"] != nil, "\(line)")
            messages[try #require(object["msg"])] = object
        }
        #expect(messages["Lineage server started"]?["trust_domain"] == "example.org")
        #expect(messages["X509 CA activated"]?["authority_id"] != nil)
        let created = try #require(messages["Registration entry created"], "\(messages.keys.sorted())")
        #expect(created["spiffe_id"] == "spiffe://example.org/web" && created["level"] == "info" && created["caller"] != nil)
        #expect(messages["Join token created"] != nil)
        #expect(messages["Signed X509 SVID"]?["spiffe_id"] == "spiffe://example.org/minted")
        #expect(messages["Signed X509 SVID"]?["level"] == "debug")
        #expect(messages["Lineage server stopping"] != nil, "SIGTERM stops gracefully")
        #expect(!text.contains(tokenValue), "join tokens are secrets")
        #expect(!text.contains("4242"), "selectors are not logged")
    }
}
