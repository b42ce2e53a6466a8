import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `lineage-server run` on loopback and a Unix socket in a temp directory, for tests
/// that drive it the way an operator does: through the CLI.
final class ServerProcess: @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, on one task.
    let directory: String
    let port: Int
    /// The `health_checks` HTTP listener's port; Prometheus `/metrics` is on the next one.
    let healthPort: Int
    var metricsPort: Int { healthPort + 1 }
    let executable: String
    private var process: Process?

    var socketPath: String { directory + "/api.sock" }
    var dataDir: String { directory + "/data" }
    var configPath: String { directory + "/server.conf" }

    /// The server's standard error (its log lines) of every start.
    var stderrPath: String { directory + "/server.stderr" }

    /// `extraSettings` is HCL added inside `server { }` (log settings), `extraPlugins` inside
    /// `plugins { }` (an UpstreamAuthority); `x509popCABundle` is a `ca_bundle_path` for
    /// `NodeAttestor "x509pop"` beside `join_token`.
    /// `port`: the TLS port (the next two are health and metrics); random when nil.
    init(trustDomain: String = "example.org", attestationRateLimit: Bool = true, extraSettings: String = "",
         extraPlugins: String = "", x509popCABundle: String? = nil, port: Int? = nil) throws {
        executable = try CrashRecoveryTests.executable("lineage-server")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("server-\(UUID().uuidString.prefix(8))").path
        self.port = port ?? Int.random(in: 10_000...32_000)
        healthPort = self.port + 1
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            server {
                bind_address = "127.0.0.1"
                bind_port = "\(self.port)"
                socket_path = "\(directory)/api.sock"
                trust_domain = "\(trustDomain)"
                data_dir = "\(directory)/data"
                ca_ttl = "24h"
                default_x509_svid_ttl = "1h"
                ratelimit {
                    attestation = \(attestationRateLimit)
                }
            \(extraSettings)
            }
            health_checks {
                listener_enabled = true
                bind_address = "127.0.0.1"
                bind_port = "\(self.port + 1)"
                live_path = "/live"
                ready_path = "/ready"
            }
            telemetry {
                Prometheus {
                    host = "127.0.0.1"
                    port = "\(self.port + 2)"
                }
            }
            plugins {
                KeyManager "disk" {
                    plugin_data {
                        keys_path = "\(directory)/data/keys.json"
                    }
                }
                NodeAttestor "join_token" {
                    plugin_data {}
                }
                \(x509popCABundle.map { "NodeAttestor \"x509pop\" { plugin_data { ca_bundle_path = \"\($0)\" } }" } ?? "")
            \(extraPlugins)
            }
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Starts the server and waits until `healthcheck` passes.
    func start() async throws {
        try launch()
        try await waitUntilHealthy()
    }

    /// Starts the server without waiting (a cluster member is healthy only once a quorum runs).
    func launch() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "-config", configPath]
        process.standardOutput = FileHandle.nullDevice
        if !FileManager.default.fileExists(atPath: stderrPath) { _ = FileManager.default.createFile(atPath: stderrPath, contents: nil) }
        let stderr = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try stderr.seekToEnd()
        process.standardError = stderr
        try process.run()
        self.process = process
    }

    func waitUntilHealthy() async throws {
        guard let process else { throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "not launched"]) }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if try await cli(["healthcheck", "-socketPath", socketPath]).status == 0 { return }
            guard process.isRunning else {
                // Its last log lines say why (a port in use, a refused configuration…).
                let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
                let tail = log.split(separator: "\n").suffix(5).joined(separator: "\n")
                throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "lineage-server exited at start: \(tail)"])
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "lineage-server did not become healthy in 60 s"])
    }

    /// The running server's process ID (a test pauses it with SIGSTOP).
    var pid: Int32 {
        guard let process, process.isRunning else { preconditionFailure("the server is not running") }
        return process.processIdentifier
    }

    func kill(_ signal: Int32 = SIGKILL) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
    }

    /// Sends `signal` without waiting for an exit (SIGSTOP and SIGCONT pause and resume it).
    func signal(_ signal: Int32) {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, signal)
    }

    /// Runs `lineage-server ARGS…` and returns its exit status and output.
    @discardableResult
    func cli(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await Self.run(executable, arguments)
    }

    /// Runs a process to completion on a GCD thread: waiting for a child must not hold one of
    /// the few cooperative threads that every other async test of the run shares.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try runBlocking(executable, arguments) })
            }
        }
    }

    static func runBlocking(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
