// What the benchmarks that drive real child processes share: starting and always stopping
// them (also on failure and on SIGINT/SIGTERM), waiting for readiness, free loopback ports,
// and percentile rows.
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public struct BenchFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Everything to undo on exit: child process ids and the run's temporary directory.
public final class Cleanup: Sendable {
    private let state = Mutex<(pids: [pid_t], directory: String?)>(([], nil))

    public init() {}

    public func add(_ pid: pid_t) { state.withLock { $0.pids.append(pid) } }
    public func setDirectory(_ path: String) { state.withLock { $0.directory = path } }

    /// SIGTERM to every child, SIGKILL after 5 s, then removes the directory. Idempotent; holds
    /// the lock throughout, so a second caller (the signal handler racing the failure path)
    /// returns only once everything is gone.
    public func run() {
        state.withLock { current in
            for pid in current.pids { kill(pid, SIGTERM) }
            for pid in current.pids {
                var status: Int32 = 0
                var waited = 0
                while waitpid(pid, &status, WNOHANG) == 0 && waited < 500 {
                    usleep(10_000)
                    waited += 1
                }
                if waited >= 500 {
                    kill(pid, SIGKILL)
                    waitpid(pid, &status, 0)
                }
            }
            if let directory = current.directory { try? FileManager.default.removeItem(atPath: directory) }
            current = ([], nil)
        }
    }

    /// Stops everything and exits on SIGINT/SIGTERM. Keep the returned sources alive.
    public func installSignalHandlers(benchName: String) -> [any DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                print("\(benchName): interrupted, stopping the child processes")
                self.run()
                exit(130)
            }
            source.resume()
            return source
        }
    }

    /// Starts `tool arguments`, stdout and stderr to `logPath`; registers it for cleanup.
    public func start(_ tool: URL, _ arguments: [String], logPath: String) throws -> Process {
        guard FileManager.default.createFile(atPath: logPath, contents: nil) else {
            throw BenchFailure("cannot create \(logPath)")
        }
        guard let log = FileHandle(forWritingAtPath: logPath) else { throw BenchFailure("cannot open \(logPath)") }
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        process.standardOutput = log
        process.standardError = log
        try process.run()
        add(process.processIdentifier)
        return process
    }

    /// Runs a short command to completion (at most `limit`) and returns its output.
    public func runTool(_ tool: URL, _ arguments: [String], directory: String, limit: Duration = .seconds(10)) async throws -> String {
        let logPath = directory + "/cli-\(UUID().uuidString).txt"
        let process = try start(tool, arguments, logPath: logPath)
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                throw BenchFailure("`\(tool.lastPathComponent) \(arguments.joined(separator: " "))` did not finish in \(limit)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw BenchFailure("`\(tool.lastPathComponent) \(arguments.joined(separator: " "))` failed:\n\(output)")
        }
        return output
    }
}

/// The directory this executable lives in, where `swift build` also put the sibling products.
public func productDirectory() throws -> URL {
    guard let directory = Bundle.main.executableURL?.deletingLastPathComponent() else {
        throw BenchFailure("cannot locate this executable's directory")
    }
    return directory
}

/// A sibling product of this executable, built with the same configuration.
public func siblingProduct(_ name: String) throws -> URL {
    let tool = try productDirectory().appendingPathComponent(name)
    guard FileManager.default.isExecutableFile(atPath: tool.path) else {
        throw BenchFailure("\(tool.path) is missing: build it with the same configuration (swift build -c release --product \(name))")
    }
    return tool
}

/// A loopback port that was free a moment ago.
public func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchFailure("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw BenchFailure("bind: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Retries `attempt` until it returns true or `limit` passes.
public func waitUntil(_ what: String, limit: Duration, logPath: String, _ attempt: () async -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if await attempt() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw BenchFailure("\(what) not ready after \(limit); last log lines:\n\(logTail(logPath))")
}

/// Runs one step of a benchmark; a failure names the step.
public func step<R>(_ name: String, _ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch let failure as BenchFailure {
        throw failure
    } catch {
        throw BenchFailure("\(name): \(error)")
    }
}

/// The last lines of a child's log, printed when a run fails.
public func logTail(_ path: String) -> String {
    let log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    return log.split(separator: "\n").suffix(20).joined(separator: "\n")
}

/// One measured case: its samples and their percentiles.
public struct Row: Sendable {
    public let name: String
    public let samples: [Duration]

    public init(name: String, samples: [Duration]) {
        self.name = name
        self.samples = samples
    }

    public func percentile(_ fraction: Double) -> Duration {
        let sorted = samples.sorted()
        let position = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return sorted[max(0, position)]
    }
}

public func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

public func microseconds(_ duration: Duration) -> String {
    let value = seconds(duration) * 1e6
    return abs(value) >= 100 ? String(Int(value.rounded())) : String(Double(Int(value * 10)) / 10)
}
