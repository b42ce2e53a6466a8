import Foundation
import SwiftASN1
import Testing
import X509

/// Two real Envoys doing mTLS with SVIDs that a real `lineage-agent run` gets from a real
/// `lineage-server run`: they keep working through SVID rotation and through a forced CA
/// rotation (`localauthority x509 prepare`, then `activate`), without a restart.
@Suite("Envoy mTLS through the real server and agent", .serialized, .timeLimit(.minutes(4)))
struct EnvoyLineageTests {
    static let serverUID: UInt32 = 5_011
    static let clientUID: UInt32 = 5_012

    static func binary(_ name: String) -> String { AgentServerIntegrationTests.binary(name) }

    static func get(directory: String, port: Int, path: String = "/", name: String) async throws -> (status: Int?, body: String) {
        let output = try await ExternalProcess.run(
            try ExternalProcess.python(),
            [ExternalProcess.interopDirectory + "/http_get.py", "http://127.0.0.1:\(port)\(path)", "3"],
            directory: directory, name: name, timeout: .seconds(10))
        let result = try decodeJSONObject(output)
        return (result["status"] as? Int, (result["body"] as? String) ?? (result["error"] as? String) ?? "")
    }

    /// Serial numbers of the CA certificates in `bundle show` output, as Envoy's /certs prints them.
    static func caSerials(_ pem: String) throws -> Set<String> {
        var serials = Set<String>()
        for block in pem.components(separatedBy: "-----END CERTIFICATE-----") where block.contains("BEGIN CERTIFICATE") {
            let certificate = try Certificate(pemEncoded: block + "-----END CERTIFICATE-----")
            let hex = certificate.serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
            serials.insert(String(hex.drop { $0 == "0" }))
        }
        return serials
    }

    @Test("SVID and CA rotations reach both Envoys over SDS; requests keep succeeding")
    func rotations() async throws {
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ports = try EnvoyConfig.freePorts(5)
        let (serverAPIPort, envoyServerPort, envoyServerAdmin, envoyClientPort, envoyClientAdmin) =
            (ports[0], ports[1], ports[2], ports[3], ports[4])
        let serverSocket = directory + "/server.sock"
        let agentSocket = directory + "/agent.sock"
        // Short SVIDs: the agent re-mints at half-life, so SVID rotation happens within the test.
        try """
            server {
                bind_address = "127.0.0.1"
                bind_port = "\(serverAPIPort)"
                socket_path = "\(serverSocket)"
                trust_domain = "example.org"
                data_dir = "\(directory)/sdata"
                ca_ttl = "24h"
                default_x509_svid_ttl = "20s"
            }
            plugins {
                KeyManager "memory" { plugin_data {} }
                NodeAttestor "join_token" { plugin_data {} }
            }
            """.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        let server = try ExternalProcess.start(
            Self.binary("lineage-server"), ["run", "-config", directory + "/server.conf"], directory: directory, name: "server")
        defer { server.stop() }
        let cli = { @Sendable (arguments: [String], name: String) async throws -> ExternalProcess.Output in
            try await ExternalProcess.run(Self.binary("lineage-server"), arguments + ["-socketPath", serverSocket],
                                          directory: directory, name: name)
        }
        try await eventually("server healthy", timeout: .seconds(60)) { try await cli(["healthcheck"], "health").status == 0 }
        let bundle = try await cli(["bundle", "show"], "bundle").stdout
        try bundle.write(toFile: directory + "/bundle.pem", atomically: true, encoding: .utf8)
        let token = try await cli(["token", "generate", "-spiffeID", "spiffe://example.org/node"], "token").stdout
        let tokenValue = try #require(token.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        for (name, uid) in [("server", Self.serverUID), ("client", Self.clientUID)] {
            let created = try await cli(["entry", "create", "-parentID", "spiffe://example.org/node", "-spiffeID",
                                         "spiffe://example.org/\(name)", "-selector", "unix:uid:\(uid)"], "entry-\(name)")
            #expect(created.status == 0, "\(created.stderr)")
        }
        try """
            agent {
                trust_domain = "example.org"
                server_address = "127.0.0.1"
                server_port = "\(serverAPIPort)"
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
        let agent = try ExternalProcess.start(
            Self.binary("lineage-agent"), ["run", "-config", directory + "/agent.conf", "-joinToken", tokenValue],
            directory: directory, name: "agent")
        defer { agent.stop() }
        try await eventually("agent socket", timeout: .seconds(60)) {
            guard agent.isRunning else { throw ExternalProcess.Failure(description: "agent exited: \(agent.stderr.suffix(2_000))") }
            return FileManager.default.fileExists(atPath: agentSocket)
        }

        // Envoy runs as other users: a copy of the binary in a 0755 directory.
        let bin = directory + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let envoy = bin + "/envoy"
        try FileManager.default.copyItem(atPath: try ExternalProcess.envoy(), toPath: envoy)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: envoy)
        var envoys: [ExternalProcess.Running] = []
        defer { for running in envoys { running.stop() } }
        let configs: [(String, [String: Any], UInt32)] = [
            ("server", EnvoyConfig.server(socketPath: agentSocket, port: envoyServerPort, adminPort: envoyServerAdmin,
                                           clientID: "spiffe://example.org/client"), Self.serverUID),
            ("client", EnvoyConfig.client(socketPath: agentSocket, port: envoyClientPort, adminPort: envoyClientAdmin,
                                           serverPort: envoyServerPort, serverID: "spiffe://example.org/server"), Self.clientUID),
        ]
        for (name, config, uid) in configs {
            let path = "\(directory)/\(name).json"
            try EnvoyConfig.write(config, to: path)
            envoys.append(try ExternalProcess.start(
                envoy, ["-c", path, "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"],
                uid: uid, directory: directory, name: "envoy-\(name)"))
        }
        func diagnostics() -> String {
            (envoys + [agent, server]).map { "\($0.name) running=\($0.isRunning):\n\($0.stderr.suffix(2_000))" }
                .joined(separator: "\n")
        }
        @Sendable func certs(_ adminPort: Int, _ name: String) async throws -> Set<String> {
            EnvoyTests.serialNumbers(in: try await Self.get(directory: directory, port: adminPort, path: "/certs", name: name).body)
        }
        @Sendable func requestSucceeds(_ name: String) async throws {
            try await eventually("a request through the client proxy (\(name))", timeout: .seconds(30)) {
                try await Self.get(directory: directory, port: envoyClientPort, name: "get-\(UUID().uuidString.prefix(8))").status == 200
            }
        }

        do {
            try await requestSucceeds("first")
            // SVID rotation: the agent re-mints at half-life (10 s); both Envoys load new leaves.
            let before = try await certs(envoyClientAdmin, "certs-0")
            try await eventually("client Envoy loads a rotated SVID", timeout: .seconds(40)) {
                let now = try await certs(envoyClientAdmin, "certs-\(UUID().uuidString.prefix(8))")
                return !now.isEmpty && now != before
            }
            try await requestSucceeds("after SVID rotation")

            // Forced CA rotation: the prepared CA joins the bundle at once; after activation new
            // SVIDs chain to it. Both reach Envoy over SDS, and traffic keeps flowing.
            let prepared = try await cli(["localauthority", "x509", "prepare"], "prepare")
            #expect(prepared.status == 0, "\(prepared.stderr)")
            let preparedID = try #require(
                prepared.stdout.split(separator: "\n").first { $0.contains("Authority ID:") }?.split(separator: " ").last.map(String.init))
            let newCA = try Self.caSerials(try await cli(["bundle", "show"], "bundle-2").stdout).subtracting(try Self.caSerials(bundle))
            #expect(newCA.count == 1)
            let activated = try await cli(["localauthority", "x509", "activate", "-authorityID", preparedID], "activate")
            #expect(activated.status == 0, "\(activated.stderr)")
            for (adminPort, name) in [(envoyServerAdmin, "server"), (envoyClientAdmin, "client")] {
                try await eventually("\(name) Envoy trusts the new CA", timeout: .seconds(40)) {
                    try await certs(adminPort, "\(name)-ca-\(UUID().uuidString.prefix(8))").isSuperset(of: newCA)
                }
            }
            let afterActivation = try await certs(envoyClientAdmin, "certs-activated")
            try await eventually("client Envoy loads an SVID from the new CA", timeout: .seconds(40)) {
                let now = try await certs(envoyClientAdmin, "certs-\(UUID().uuidString.prefix(8))")
                return now != afterActivation
            }
            try await requestSucceeds("after CA rotation")
            #expect(envoys.allSatisfy { $0.isRunning }, "\(diagnostics())")
        } catch {
            Issue.record("\(error)\n\(diagnostics())")
            throw error
        }
    }
}
