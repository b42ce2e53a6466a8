import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One `lineage-server run` child process of a fault-suite cluster: its directory, config and
/// ports, and the signals the suite sends it (SIGKILL, SIGSTOP/SIGCONT, SIGTERM).
public final class FaultNode: Sendable {
    public let name: String
    /// The Raft node ID: members sorted by name, first = 1 (docs/ha.md).
    public let id: UInt64
    public let directory: String
    public let port: Int
    public var healthPort: Int { port + 1 }
    public var metricsPort: Int { port + 2 }
    public var socketPath: String { directory + "/api.sock" }
    public var dataDir: String { directory + "/data" }
    public var configPath: String { directory + "/server.conf" }
    public var stderrPath: String { directory + "/server.stderr" }
    let executable: String
    private let process = Mutex<(pid: pid_t, paused: Bool)?>(nil)

    /// `peers`: (name, the address this node dials for it — a proxy's port); nil for a server
    /// that joins a running cluster (`join = true`, `lineage-server cluster join`).
    /// `snapshotIntervalEntries`: the log is compacted into a snapshot every that many entries.
    init(
        name: String, id: UInt64, executable: String, parent: String, port: Int, peers: [(String, Int)]?, upstream: UpstreamCA,
        snapshotIntervalEntries: Int? = nil
    ) throws {
        self.name = name
        self.id = id
        self.executable = executable
        self.port = port
        directory = parent + "/" + name
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var membership: String
        if let peers {
            membership = "peers = [" + peers.map { "\"\($0.0)=127.0.0.1:\($0.1)\"" }.joined(separator: ", ") + "]"
        } else {
            membership = "join = true\n            advertise_address = \"127.0.0.1:\(port)\""
        }
        if let snapshotIntervalEntries { membership += "\n            snapshot_interval_entries = \(snapshotIntervalEntries)" }
        try """
            server {
                bind_address = "127.0.0.1"
                bind_port = "\(port)"
                socket_path = "\(socketPath)"
                trust_domain = "example.org"
                data_dir = "\(dataDir)"
                log_level = "INFO"
                ca_ttl = "24h"
                default_x509_svid_ttl = "1h"
                cluster {
                    node_name = "\(name)"
                    \(membership)
                }
            }
            health_checks {
                listener_enabled = true
                bind_address = "127.0.0.1"
                bind_port = "\(healthPort)"
                live_path = "/live"
                ready_path = "/ready"
            }
            telemetry {
                Prometheus {
                    host = "127.0.0.1"
                    port = "\(metricsPort)"
                }
            }
            plugins {
                KeyManager "disk" { plugin_data { keys_path = "\(dataDir)/keys.json" } }
                NodeAttestor "join_token" { plugin_data {} }
                UpstreamAuthority "disk" {
                    plugin_data {
                        cert_file_path = "\(upstream.certPath)"
                        key_file_path = "\(upstream.keyPath)"
                    }
                }
            }
            """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    public var isRunning: Bool { process.withLock { $0 != nil } }
    public var pid: pid_t? { process.withLock { $0?.pid } }

    /// Writes every thread's stack of the running process to `directory/stacks-<time>.txt` with
    /// gdb (when installed), for a post-mortem of a node that stopped answering.
    public func dumpStacks() async -> String? {
        guard let pid, FileManager.default.isExecutableFile(atPath: "/usr/bin/gdb") else { return nil }
        let path = directory + "/stacks-\(Int(Date().timeIntervalSince1970)).txt"
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                let gdb = Process()
                gdb.executableURL = URL(fileURLWithPath: "/usr/bin/gdb")
                gdb.arguments = ["-p", "\(pid)", "-batch", "-ex", "thread apply all bt 30"]
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                gdb.standardOutput = FileHandle(forWritingAtPath: path)
                gdb.standardError = FileHandle.nullDevice
                try? gdb.run()
                gdb.waitUntilExit()
                done.resume()
            }
        }
        return path
    }
    public var isPaused: Bool { process.withLock { $0?.paused ?? false } }

    /// Starts the server (its log lines are appended to `stderrPath`); returns at once. Spawned
    /// with posix_spawn and reaped with waitpid here, so the pid is ours alone to signal.
    public func launch() throws {
        precondition(!isRunning, "\(name) is already running")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        // Nothing else of ours: NIO's sockets are not close-on-exec, so without this every
        // server started mid-run inherited the proxies' listening and relayed sockets (and the
        // clients'). A connection a proxy closed then stayed open in that child (seen with
        // `ss`: proxy-side sockets held only by a server, bytes unread), so its dialer never
        // saw the cut — after ~100 restarts, two members' links stayed broken after a heal.
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw HarnessError("posix_spawn_file_actions_addclosefrom_np (glibc 2.34+) is needed to start \(name) without our descriptors")
        }
        let arguments = [executable, "run", "-config", configPath]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, &argv, environ)
        guard result == 0 else { throw HarnessError("cannot start \(executable): errno \(result)") }
        process.withLock { $0 = (pid, false) }
    }

    /// How many lines of this node's log (all its runs) contain `text`.
    public func logLines(containing text: String) -> Int {
        guard let data = FileManager.default.contents(atPath: stderrPath) else { return 0 }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").count { $0.contains(text) }
    }

    /// Runs `lineage-server ARGUMENTS` (a CLI command such as `cluster join`) to completion on a
    /// GCD thread; returns its exit status and its output (stdout and stderr).
    public func command(_ arguments: [String], timeout: Duration = .seconds(30)) async throws -> (status: Int32, output: String) {
        let executable = self.executable
        return try await withCheckedThrowingContinuation { done in
            DispatchQueue.global().async {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: executable)
                process.arguments = arguments
                let pipe = Pipe()
                process.standardOutput = pipe
                process.standardError = pipe
                process.standardInput = FileHandle.nullDevice
                do {
                    try process.run()
                } catch {
                    done.resume(throwing: error)
                    return
                }
                let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000)), execute: killer)
                let output = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                killer.cancel()
                done.resume(returning: (process.terminationStatus, String(decoding: output, as: UTF8.self)))
            }
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`, which the Glibc module does not
    /// import (it is a GNU extension), looked up at run time.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Sends `signal` and reaps the process (SIGCONT first if it is stopped, so SIGTERM works).
    /// Returns how the process ended ("exit 0", "signal 9", …), or nil when it was not running.
    @discardableResult
    public func kill(_ signal: Int32 = SIGKILL) async -> String? {
        guard let pid = process.withLock({ state -> pid_t? in defer { state = nil }; return state?.pid }) else { return nil }
        Glibc.kill(pid, signal)
        if signal != SIGKILL { Glibc.kill(pid, SIGCONT) }
        return await Self.reap(pid, escalateAfter: .seconds(5))
    }

    /// SIGSTOP: the process keeps its sockets but runs no code (a long GC or VM pause).
    public func pause() {
        process.withLock { state in
            guard let pid = state?.pid else { return }
            Glibc.kill(pid, SIGSTOP)
            state?.paused = true
        }
    }

    public func resume() {
        process.withLock { state in
            guard let pid = state?.pid else { return }
            Glibc.kill(pid, SIGCONT)
            state?.paused = false
        }
    }

    /// Waits for `pid` to exit on a GCD thread (never on the few cooperative threads), sending
    /// SIGKILL if it has not after `escalateAfter`.
    static func reap(_ pid: pid_t, escalateAfter: Duration) async -> String {
        await withCheckedContinuation { (done: CheckedContinuation<String, Never>) in
            DispatchQueue.global().async {
                let deadline = ContinuousClock.now + escalateAfter
                var status: Int32 = 0
                var escalated = false
                while waitpid(pid, &status, WNOHANG) == 0 {
                    if ContinuousClock.now > deadline {
                        Glibc.kill(pid, SIGKILL)
                        waitpid(pid, &status, 0)
                        escalated = true
                        break
                    }
                    usleep(2_000)
                }
                // The wait status, decoded by hand (WIFEXITED and friends are macros).
                let signal = status & 0x7f
                let ended = signal == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(signal)"
                done.resume(returning: escalated ? "no exit within \(escalateAfter), then SIGKILL" : ended)
            }
        }
    }
}

/// The shared upstream root every member needs (docs/ha.md, "Trust bootstrap"), made with openssl.
public struct UpstreamCA: Sendable {
    public let certPath: String
    public let keyPath: String

    init(directory: String) throws {
        certPath = directory + "/upstream.pem"
        keyPath = directory + "/upstream.key"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyPath,
            "-out", certPath, "-days", "30", "-subj", "/O=Fault suite/CN=Upstream Root",
            "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        guard openssl.terminationStatus == 0 else { throw HarnessError("openssl could not make the upstream root") }
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
