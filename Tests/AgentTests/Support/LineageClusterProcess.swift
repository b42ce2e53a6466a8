import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Three real `lineage-server run` processes on loopback forming a static cluster, with the
/// shared `UpstreamAuthority "disk"` a cluster requires. The same setup as ServerTests'
/// `ClusterTests.makeCluster`, duplicated minimally here because the two test targets share no
/// support code (ServerTests' `ServerProcess` lives in that target).
final class LineageClusterProcess: @unchecked Sendable {
    // @unchecked: members are started and killed by the one test that owns the cluster.
    final class Member: @unchecked Sendable {
        let name: String
        let directory: String
        let port: Int
        var process: ExternalProcess.Running?
        var starts = 0

        init(name: String, directory: String, port: Int) {
            self.name = name
            self.directory = directory
            self.port = port
        }

        var socketPath: String { directory + "/api.sock" }
        var address: String { "127.0.0.1:\(port)" }
        var isRunning: Bool { process?.isRunning ?? false }
        /// Its log lines, of every start.
        var stderr: String {
            (0..<starts).map { (try? String(contentsOfFile: "\(directory)/server-\($0).stderr", encoding: .utf8)) ?? "" }
                .joined()
        }

        func start() throws {
            process = try ExternalProcess.start(
                LineageServerProcess.binary("lineage-server"), ["run", "-config", directory + "/server.conf"],
                directory: directory, name: "server-\(starts)")
            starts += 1
        }

        func kill() {
            guard let process, process.isRunning else { return }
            Glibc.kill(process.process.processIdentifier, SIGKILL)
            process.process.waitUntilExit()
        }

        /// One admin command on this member's socket.
        func cli(_ arguments: [String]) async throws -> ExternalProcess.Output {
            try await ExternalProcess.run(
                LineageServerProcess.binary("lineage-server"), arguments + ["-socketPath", socketPath], directory: directory,
                name: "cli-\(arguments.first ?? "")-\(UUID().uuidString.prefix(4))")
        }
    }

    let directory: String
    let members: [Member]
    var upstreamRoot: String { directory + "/upstream.pem" }

    /// `serverAddressList`: what an agent's `server_address` lists for this cluster.
    var serverAddressList: String { members.map(\.address).joined(separator: ",") }

    /// `extraPlugins` is HCL added inside every member's `plugins { }` (another NodeAttestor).
    init(in directory: String, extraPlugins: String = "") throws {
        self.directory = directory
        try Self.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", directory + "/upstream.key",
            "-out", directory + "/upstream.pem", "-days", "30", "-subj", "/O=Upstream/CN=Upstream Root",
            "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let names = ["s1", "s2", "s3"]
        let base = Int.random(in: 10_000...32_000)
        members = names.indices.map { index in
            Member(name: names[index], directory: "\(directory)/\(names[index])", port: base + 10 * index)
        }
        for (index, member) in members.enumerated() {
            try FileManager.default.createDirectory(atPath: member.directory, withIntermediateDirectories: true)
            let peers = members.indices.filter { $0 != index }.map { "\"\(members[$0].name)=\(members[$0].address)\"" }
            try """
                server {
                    bind_address = "127.0.0.1"
                    bind_port = "\(member.port)"
                    socket_path = "\(member.socketPath)"
                    trust_domain = "example.org"
                    data_dir = "\(member.directory)/data"
                    ca_ttl = "24h"
                    default_x509_svid_ttl = "1h"
                    cluster {
                        node_name = "\(member.name)"
                        peers = [\(peers.joined(separator: ", "))]
                    }
                }
                plugins {
                    KeyManager "disk" { plugin_data { keys_path = "\(member.directory)/data/keys.json" } }
                    NodeAttestor "join_token" { plugin_data {} }
                    \(extraPlugins)
                    UpstreamAuthority "disk" {
                        plugin_data {
                            cert_file_path = "\(directory)/upstream.pem"
                            key_file_path = "\(directory)/upstream.key"
                        }
                    }
                }
                """.write(toFile: member.directory + "/server.conf", atomically: true, encoding: .utf8)
        }
    }

    /// Launches every member at once (none is healthy before a quorum runs) and waits until each
    /// answers `healthcheck` (healthy only while some member leads).
    func start() async throws {
        for member in members { try member.start() }
        for member in members { try await waitUntilHealthy(member) }
    }

    func waitUntilHealthy(_ member: Member, timeout: Duration = .seconds(60)) async throws {
        try await eventually("\(member.name) healthy", timeout: timeout) {
            guard member.isRunning else {
                throw ExternalProcess.Failure(description: "\(member.name) exited:\n\(member.stderr.suffix(4_000))")
            }
            return try await member.cli(["healthcheck"]).status == 0
        }
    }

    func member(at address: String) -> Member? { members.first { $0.address == address } }

    /// Stops every member still running (SIGTERM, then SIGKILL).
    func stop() {
        for member in members { member.process?.stop() }
    }

    static func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw ExternalProcess.Failure(description: "openssl \(arguments.joined(separator: " ")) failed")
        }
    }
}
