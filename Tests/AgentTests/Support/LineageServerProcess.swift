import Foundation
import Testing

/// A real `lineage-server run` (this build's binary) on loopback, with a join_token attestor and
/// a disk KeyManager, driven through its CLI the way an operator drives SPIRE's quickstart.
struct LineageServerProcess: Sendable {
    let directory: String
    let port: Int
    let process: ExternalProcess.Running
    var socketPath: String { directory + "/server.sock" }

    static func binary(_ name: String) -> String {
        ExternalProcess.repositoryRoot.appendingPathComponent(".build/debug/\(name)").path
    }

    /// Starts the server in `directory` and waits until it answers `healthcheck`; `extraPlugins`
    /// is HCL added inside `plugins { }` (an UpstreamAuthority).
    static func start(in directory: String, extraPlugins: String = "") async throws -> LineageServerProcess {
        let port = Int.random(in: 10_000...32_000)
        try """
            server {
                bind_address = "127.0.0.1"
                bind_port = "\(port)"
                socket_path = "\(directory)/server.sock"
                trust_domain = "example.org"
                data_dir = "\(directory)/sdata"
                ca_ttl = "24h"
                default_x509_svid_ttl = "1h"
            }
            plugins {
                KeyManager "disk" { plugin_data { keys_path = "\(directory)/sdata/keys.json" } }
                NodeAttestor "join_token" { plugin_data {} }
                \(extraPlugins)
            }
            """.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        let process = try ExternalProcess.start(
            binary("lineage-server"), ["run", "-config", directory + "/server.conf"], directory: directory, name: "server")
        let server = LineageServerProcess(directory: directory, port: port, process: process)
        do {
            try await eventually("server healthy", timeout: .seconds(60)) {
                try await server.cli(["healthcheck"]).status == 0
            }
        } catch {
            process.stop()
            throw error
        }
        return server
    }

    func stop() { process.stop() }

    /// One admin command on the server's socket.
    func cli(_ arguments: [String]) async throws -> ExternalProcess.Output {
        try await ExternalProcess.run(
            Self.binary("lineage-server"), arguments + ["-socketPath", socketPath], directory: directory,
            name: "server-\(arguments.first ?? "cli")-\(UUID().uuidString.prefix(4))")
    }

    /// `bundle show`, as PEM.
    func bundlePEM() async throws -> String {
        let bundle = try await cli(["bundle", "show"])
        guard bundle.status == 0 else { throw ExternalProcess.Failure(description: "bundle show: \(bundle.stderr)") }
        return bundle.stdout
    }

    /// `token generate -spiffeID alias` plus an entry for a workload of this uid under the alias;
    /// returns the token.
    func tokenWithWorkloadEntry(alias: String, workload: String) async throws -> String {
        let token = try await cli(["token", "generate", "-spiffeID", alias])
        guard token.status == 0,
            let value = token.stdout.split(separator: " ").last.map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        else {
            throw ExternalProcess.Failure(description: "token generate: \(token.stderr)")
        }
        let entry = try await cli(["entry", "create", "-parentID", alias, "-spiffeID", workload, "-selector", "unix:uid:\(geteuid())"])
        guard entry.status == 0 else { throw ExternalProcess.Failure(description: "entry create: \(entry.stderr)") }
        return value
    }

    /// An `agent.conf` for this server; `bootstrap` is the trust line, `keyManager` and
    /// `nodeAttestor` the plugin blocks.
    func agentConfig(
        directory agentDirectory: String, bootstrap: String, keyManager: String,
        nodeAttestor: String = #"NodeAttestor "join_token" { plugin_data {} }"#
    ) -> String {
        """
        agent {
            trust_domain = "example.org"
            server_address = "127.0.0.1"
            server_port = "\(port)"
            data_dir = "\(agentDirectory)/adata"
            socket_path = "\(agentDirectory)/agent.sock"
            \(bootstrap)
        }
        plugins {
            \(nodeAttestor)
            \(keyManager)
            WorkloadAttestor "unix" { plugin_data {} }
        }
        """
    }
}
