// lineage-bench-replication: replicated, durable appends on three servers on loopback, Lineage
// beside etcd, driven by the same load client in the same run.
//   - Lineage: three `lineage-server run` processes in one cluster (fsync on, as shipped); one
//     request = `BatchCreateEntry` with one entry on the leader's admin socket, acknowledged
//     once the entry is committed on a majority and applied.
//   - etcd: three `etcd` members (Debian's etcd-server; fsync on, as shipped); one request =
//     `KV.Put` on the leader's client port, acknowledged once committed and applied.
//   - the same payload size in both: etcd's value, Lineage's selector value.
//   - beside them, the limit of the disk: one writer's 4 KiB write + fdatasync rate in the same
//     directory (every commit needs at least one fdatasync on a majority); and the limit of each
//     request path: a no-op unary call (gRPC health check) to each leader, same client.
//   - for every row, the CPU time per acknowledged request of the system's three servers and of
//     the load client (from /proc/PID/stat over the measured seconds): on a machine whose cores
//     are all busy, the rate is the cores' time divided by their sum.
// At 16, 64 and 256 concurrent requests (each a task waiting for its answer before sending the
// next), over one HTTP/2 connection per 32 concurrent requests, the systems take turns per level.
// Build and run:
//   apt-get install etcd-server        # etcd on PATH
//   swift build -c release --product lineage-server
//   swift build -c release --product lineage-bench-replication
//   .build/release/lineage-bench-replication [parent-directory] [seconds-per-level] [payload-bytes]
//   (defaults /var/tmp, 10, 256)
import BenchSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: Parameters

let arguments = CommandLine.arguments
let parentDirectory = arguments.count > 1 ? arguments[1] : "/var/tmp"
let secondsPerLevel = arguments.count > 2 ? Int(arguments[2]) ?? 10 : 10
let payloadBytes = arguments.count > 3 ? Int(arguments[3]) ?? 256 : 256
/// LINEAGE_BENCH_CONCURRENCY="1,16" overrides the levels (the issue's comparison is 16, 64, 256).
let concurrencies = ProcessInfo.processInfo.environment["LINEAGE_BENCH_CONCURRENCY"]
    .map { $0.split(separator: ",").compactMap { Int($0) }.filter { $0 > 0 } } ?? [16, 64, 256]
/// LINEAGE_BENCH_SYSTEMS="lineage" (or "etcd") runs one system alone, for profiling; "floor"
/// (on by default) adds a no-op RPC to the leader of each system that runs.
let systems = Set((ProcessInfo.processInfo.environment["LINEAGE_BENCH_SYSTEMS"] ?? "etcd,lineage,floor").lowercased().split(separator: ",").map(String.init))
let requestsPerConnection = 32
let warmup = Duration.seconds(1)
let trustDomain = "example.org"
let memberNames = ["s1", "s2", "s3"]

let cleanup = Cleanup()
let runDirectory = parentDirectory + "/lineage-bench-replication-\(getpid())"

var callOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = .seconds(10)
    return options
}

/// A payload of `payloadBytes` printable characters (a selector value must be text).
func payload() -> String {
    let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    return String((0..<payloadBytes).map { _ in alphabet.randomElement()! })
}

// MARK: Plain HTTP GET (Prometheus metrics on loopback)

/// `GET path` on 127.0.0.1:port with HTTP/1.0; the body, or nil when the server does not answer.
func httpGet(port: Int, path: String) -> String? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var timeout = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var response: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    while response.count < 16 * 1024 * 1024 {
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response.append(contentsOf: buffer[0..<count])
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.range(of: "\r\n\r\n") else { return nil }
    return String(text[split.upperBound...])
}

/// Which of `metricsPorts` reports `leaderLine` (exactly one), or nil.
func leaderIndex(metricsPorts: [Int], leaderLine: String) -> Int? {
    let leaders = metricsPorts.indices.filter { index in
        httpGet(port: metricsPorts[index], path: "/metrics")?.split(separator: "\n").contains { $0 == leaderLine } ?? false
    }
    return leaders.count == 1 ? leaders[0] : nil
}

func waitForLeader(_ system: String, metricsPorts: [Int], leaderLine: String, logPath: String) async throws -> Int {
    var found: Int?
    try await waitUntil("a \(system) leader", limit: .seconds(60), logPath: logPath) {
        found = leaderIndex(metricsPorts: metricsPorts, leaderLine: leaderLine)
        return found != nil
    }
    return found!
}

// MARK: The disk's limit

/// One writer appending 4 KiB blocks to a file, each followed by fdatasync, for two seconds.
func fdatasyncRate(directory: String) throws -> (perSecond: Double, p50: Duration) {
    let path = directory + "/fdatasync-probe"
    let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
    guard fd >= 0 else { throw BenchFailure("open \(path): \(String(cString: strerror(errno)))") }
    defer {
        close(fd)
        unlink(path)
    }
    let block = [UInt8](repeating: 0x5a, count: 4096)
    let clock = ContinuousClock()
    var samples: [Duration] = []
    let start = clock.now
    while clock.now - start < .seconds(2) {
        let before = clock.now
        guard block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == block.count, fdatasync(fd) == 0 else {
            throw BenchFailure("write/fdatasync \(path): \(String(cString: strerror(errno)))")
        }
        samples.append(clock.now - before)
    }
    let elapsed = seconds(clock.now - start)
    return (Double(samples.count) / elapsed, Row(name: "", samples: samples).percentile(0.5))
}

// MARK: Clusters

struct EtcdCluster {
    let clientPorts: [Int]
    let processes: [pid_t]
    let metricsLine = "etcd_server_is_leader 1"
    let logPath: String
}

func startEtcd(root: String) async throws -> EtcdCluster {
    guard let etcd = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
        .map({ URL(fileURLWithPath: String($0)).appendingPathComponent("etcd") })
        .first(where: { FileManager.default.isExecutableFile(atPath: $0.path) })
    else { throw BenchFailure("etcd is not on PATH (Debian: apt-get install etcd-server)") }
    let clientPorts = try memberNames.map { _ in try freePort() }
    let peerPorts = try memberNames.map { _ in try freePort() }
    let initialCluster = memberNames.indices.map { "e\($0 + 1)=http://127.0.0.1:\(peerPorts[$0])" }.joined(separator: ",")
    var processes: [pid_t] = []
    for index in memberNames.indices {
        let name = "e\(index + 1)"
        processes.append(try cleanup.start(etcd, [
            "--name", name, "--data-dir", "\(root)/etcd-\(name)",
            "--listen-client-urls", "http://127.0.0.1:\(clientPorts[index])",
            "--advertise-client-urls", "http://127.0.0.1:\(clientPorts[index])",
            "--listen-peer-urls", "http://127.0.0.1:\(peerPorts[index])",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPorts[index])",
            "--initial-cluster", initialCluster, "--initial-cluster-state", "new",
            "--initial-cluster-token", "lineage-bench-\(getpid())", "--log-level", "error", "--logger", "zap",
        ], logPath: "\(root)/etcd-\(name).log").processIdentifier)
    }
    return EtcdCluster(clientPorts: clientPorts, processes: processes, logPath: "\(root)/etcd-e1.log")
}

struct LineageCluster {
    let sockets: [String]
    let processes: [pid_t]
    let metricsPorts: [Int]
    let metricsLine = "lineage_raft_is_leader 1"
    let logPath: String
}

func startLineage(root: String) async throws -> LineageCluster {
    let server = try siblingProduct("lineage-server")
    let openssl = URL(fileURLWithPath: "/usr/bin/openssl")
    let upstreamKey = root + "/upstream.key", upstreamCert = root + "/upstream.pem"
    _ = try await cleanup.runTool(openssl, [
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", upstreamKey,
        "-out", upstreamCert, "-days", "2", "-subj", "/O=Bench/CN=Upstream Root",
        "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    ], directory: root)
    let ports = try memberNames.map { _ in try freePort() }
    let metricsPorts = try memberNames.map { _ in try freePort() }
    var sockets: [String] = []
    var processes: [pid_t] = []
    for (index, name) in memberNames.enumerated() {
        let directory = "\(root)/lineage-\(name)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let peers = memberNames.indices.filter { $0 != index }.map { "\"\(memberNames[$0])=127.0.0.1:\(ports[$0])\"" }
        let socket = directory + "/api.sock"
        sockets.append(socket)
        try """
        server {
            bind_address = "127.0.0.1"
            bind_port = "\(ports[index])"
            socket_path = "\(socket)"
            trust_domain = "\(trustDomain)"
            data_dir = "\(directory)/data"
            log_level = "WARN"
            ca_ttl = "24h"
            cluster {
                node_name = "\(name)"
                peers = [\(peers.joined(separator: ", "))]
            }
        }
        telemetry {
            Prometheus {
                host = "127.0.0.1"
                port = "\(metricsPorts[index])"
            }
        }
        plugins {
            KeyManager "disk" { plugin_data { keys_path = "\(directory)/data/keys.json" } }
            NodeAttestor "join_token" { plugin_data {} }
            UpstreamAuthority "disk" {
                plugin_data {
                    cert_file_path = "\(upstreamCert)"
                    key_file_path = "\(upstreamKey)"
                }
            }
        }
        """.write(toFile: directory + "/server.conf", atomically: true, encoding: .utf8)
        processes.append(try cleanup.start(
            server, ["run", "-config", directory + "/server.conf"], logPath: directory + "/server.log").processIdentifier)
    }
    return LineageCluster(sockets: sockets, processes: processes, metricsPorts: metricsPorts, logPath: "\(root)/lineage-s1/server.log")
}

// MARK: Load

typealias Transport = HTTP2ClientTransport.Posix

struct LevelResult {
    let system: String
    let concurrency: Int
    let acknowledged: Int
    let failed: Int
    let elapsed: Duration
    let latencies: Row
    /// CPU seconds over the measured seconds: the system's servers (all three), this process.
    let serverCPU: Double
    let clientCPU: Double

    var perSecond: Double { Double(acknowledged) / seconds(elapsed) }

    /// Microseconds of CPU per acknowledged request.
    func perRequest(_ cpuSeconds: Double) -> String { String(Int((cpuSeconds / Double(acknowledged) * 1e6).rounded())) }
}

/// User + system CPU seconds a process has used (all its threads), from `/proc/PID/stat`.
func cpuSeconds(_ pid: pid_t) throws -> Double {
    let path = "/proc/\(pid)/stat"
    guard let stat = try? String(contentsOfFile: path, encoding: .utf8),
          let end = stat.lastIndex(of: ")")
    else { throw BenchFailure("cannot read \(path) (the CPU columns need Linux's /proc)") }
    // After the command name: field 3 (state) is first, so utime (14) and stime (15) are 11, 12.
    let fields = stat[stat.index(after: end)...].split(separator: " ")
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
        throw BenchFailure("unexpected \(path): \(stat)")
    }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func cpuSeconds(_ pids: [pid_t]) throws -> Double { try pids.reduce(0) { $0 + (try cpuSeconds($1)) } }

/// Samples of one load level, merged from its workers.
final class Samples: Sendable {
    private let state = Mutex<(latencies: [Duration], failed: Int, firstFailure: String?)>(([], 0, nil))

    func add(_ worker: [Duration], failed: Int, firstFailure: String?) {
        state.withLock {
            $0.latencies += worker
            $0.failed += failed
            if $0.firstFailure == nil { $0.firstFailure = firstFailure }
        }
    }

    var snapshot: (latencies: [Duration], failed: Int, firstFailure: String?) { state.withLock { $0 } }
}

/// `concurrency` workers, each sending its next request when the last is answered, for a warm-up
/// and then `secondsPerLevel` measured seconds, over `concurrency / requestsPerConnection`
/// connections made by `transport`; meanwhile the CPU time of `servers` and of this process.
func runLevel(
    system: String, concurrency: Int, servers: [pid_t], transport: @escaping @Sendable () throws -> Transport,
    request: @escaping @Sendable (GRPCClient<Transport>, _ worker: Int, _ sequence: Int) async throws -> Void
) async throws -> LevelResult {
    let connections = max(1, (concurrency + requestsPerConnection - 1) / requestsPerConnection)
    let clients = try (0..<connections).map { _ in GRPCClient(transport: try transport()) }
    let samples = Samples()
    let clock = ContinuousClock()
    let start = clock.now
    let measureFrom = start + warmup
    let stopAt = measureFrom + .seconds(secondsPerLevel)
    async let cpu: (server: Double, client: Double) = {
        let processes = (servers: servers, client: getpid())
        try await Task.sleep(until: measureFrom, clock: clock)
        let before = (server: try cpuSeconds(processes.servers), client: try cpuSeconds(processes.client))
        try await Task.sleep(until: stopAt, clock: clock)
        return (try cpuSeconds(processes.servers) - before.server, try cpuSeconds(processes.client) - before.client)
    }()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for client in clients { group.addTask { try await client.runConnections() } }
        try await withThrowingTaskGroup(of: Void.self) { workers in
            for worker in 0..<concurrency {
                let client = clients[worker % connections]
                workers.addTask {
                    var latencies: [Duration] = []
                    var failed = 0
                    var firstFailure: String?
                    var sequence = 0
                    while clock.now < stopAt {
                        let before = clock.now
                        do {
                            try await request(client, worker, sequence)
                            if before >= measureFrom { latencies.append(clock.now - before) }
                        } catch {
                            if before >= measureFrom { failed += 1 }
                            if firstFailure == nil { firstFailure = "\(error)" }
                        }
                        sequence += 1
                    }
                    samples.add(latencies, failed: failed, firstFailure: firstFailure)
                }
            }
            try await workers.waitForAll()
        }
        for client in clients { client.beginGracefulShutdown() }
        try await group.waitForAll()
    }
    let result = samples.snapshot
    let used = try await cpu
    if let failure = result.firstFailure {
        print("\(system) at \(concurrency): \(result.failed) failed requests; first: \(failure)")
    }
    guard !result.latencies.isEmpty else { throw BenchFailure("\(system) at \(concurrency): no request succeeded") }
    return LevelResult(
        system: system, concurrency: concurrency, acknowledged: result.latencies.count, failed: result.failed,
        elapsed: .seconds(secondsPerLevel), latencies: Row(name: system, samples: result.latencies),
        serverCPU: used.server, clientCPU: used.client)
}

func etcdLevel(_ cluster: EtcdCluster, leader: Int, concurrency: Int) async throws -> LevelResult {
    let value = Data(payload().utf8)
    return try await runLevel(
        system: "etcd", concurrency: concurrency, servers: cluster.processes, transport: etcdTransport(cluster, leader: leader)
    ) { client, worker, sequence in
        var put = Etcdserverpb_PutRequest()
        put.key = Data("bench/c\(concurrency)/w\(worker)/\(sequence)".utf8)
        put.value = value
        _ = try await Etcdserverpb_KV.Client(wrapping: client).put(put, options: callOptions)
    }
}

/// The floor under a system's rate: a unary call that does nothing (the gRPC health check) to the
/// same leader over the same kind of connection. What a write costs above it is the log's.
func rpcFloorLevel(system: String, leader: pid_t, concurrency: Int, transport: @escaping @Sendable () throws -> Transport) async throws -> LevelResult {
    try await runLevel(system: system, concurrency: concurrency, servers: [leader], transport: transport) { client, _, _ in
        let response = try await Grpc_Health_V1_Health.Client(wrapping: client).check(Grpc_Health_V1_HealthCheckRequest(), options: callOptions)
        guard response.status == .serving else { throw BenchFailure("health check: \(response.status)") }
    }
}

func etcdTransport(_ cluster: EtcdCluster, leader: Int) -> @Sendable () throws -> Transport {
    let port = cluster.clientPorts[leader]
    return { try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext) }
}

func lineageTransport(_ cluster: LineageCluster, leader: Int) -> @Sendable () throws -> Transport {
    let socket = cluster.sockets[leader]
    return { try .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext) }
}

func lineageLevel(_ cluster: LineageCluster, leader: Int, concurrency: Int) async throws -> LevelResult {
    var parent = Spire_Api_Types_SPIFFEID()
    parent.trustDomain = trustDomain
    parent.path = "/bench/node"
    var selector = Spire_Api_Types_Selector()
    selector.type = "bench"
    selector.value = payload()
    let template = (parent, selector)
    return try await runLevel(
        system: "Lineage", concurrency: concurrency, servers: cluster.processes, transport: lineageTransport(cluster, leader: leader)
    ) { client, worker, sequence in
        var entry = Spire_Api_Types_Entry()
        entry.parentID = template.0
        entry.spiffeID.trustDomain = trustDomain
        entry.spiffeID.path = "/bench/c\(concurrency)/w\(worker)/\(sequence)"
        entry.selectors = [template.1]
        var create = Spire_Api_Server_Entry_V1_BatchCreateEntryRequest()
        create.entries = [entry]
        let response = try await Spire_Api_Server_Entry_V1_Entry.Client(wrapping: client).batchCreateEntry(create, options: callOptions)
        guard let result = response.results.first, result.status.code == 0 else {
            throw BenchFailure("BatchCreateEntry: \(response.results.first?.status.message ?? "no result")")
        }
    }
}

// MARK: Main

func runBenchmark() async throws -> (disk: (perSecond: Double, p50: Duration), levels: [LevelResult]) {
    try FileManager.default.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
    cleanup.setDirectory(runDirectory)
    let disk = try fdatasyncRate(directory: runDirectory)

    let etcd = try await step("start etcd") { try await startEtcd(root: runDirectory) }
    let lineage = try await step("start Lineage") { try await startLineage(root: runDirectory) }
    let etcdMetrics = etcd.clientPorts
    var etcdLeader = try await waitForLeader("etcd", metricsPorts: etcdMetrics, leaderLine: etcd.metricsLine, logPath: etcd.logPath)
    var lineageLeader = try await waitForLeader(
        "Lineage", metricsPorts: lineage.metricsPorts, leaderLine: lineage.metricsLine, logPath: lineage.logPath)
    // The leader is ready for entries once its health check serves (its CA is active).
    try await waitUntil("the Lineage leader's admin API", limit: .seconds(60), logPath: lineage.logPath) {
        (try? await withGRPCClient(
            transport: try .http2NIOPosix(target: .unixDomainSocket(path: lineage.sockets[lineageLeader]), transportSecurity: .plaintext)
        ) { grpc in
            try await Grpc_Health_V1_Health.Client(wrapping: grpc).check(Grpc_Health_V1_HealthCheckRequest(), options: callOptions).status == .serving
        }) ?? false
    }

    var levels: [LevelResult] = []
    for concurrency in concurrencies {
        if systems.contains("etcd") {
            etcdLeader = leaderIndex(metricsPorts: etcdMetrics, leaderLine: etcd.metricsLine) ?? etcdLeader
            levels.append(try await step("etcd at \(concurrency)") { try await etcdLevel(etcd, leader: etcdLeader, concurrency: concurrency) })
            if systems.contains("floor") {
                levels.append(try await step("etcd no-op RPC at \(concurrency)") {
                    try await rpcFloorLevel(
                        system: "etcd no-op RPC", leader: etcd.processes[etcdLeader], concurrency: concurrency,
                        transport: etcdTransport(etcd, leader: etcdLeader))
                })
            }
        }
        guard systems.contains("lineage") else { continue }
        lineageLeader = leaderIndex(metricsPorts: lineage.metricsPorts, leaderLine: lineage.metricsLine) ?? lineageLeader
        levels.append(try await step("Lineage at \(concurrency)") {
            try await lineageLevel(lineage, leader: lineageLeader, concurrency: concurrency)
        })
        if systems.contains("floor") {
            levels.append(try await step("Lineage no-op RPC at \(concurrency)") {
                try await rpcFloorLevel(
                    system: "Lineage no-op RPC", leader: lineage.processes[lineageLeader], concurrency: concurrency,
                    transport: lineageTransport(lineage, leader: lineageLeader))
            })
        }
        print("done: \(concurrency) concurrent requests")
    }
    return (disk, levels)
}

func milliseconds(_ duration: Duration) -> String { String(format: "%.2f", seconds(duration) * 1000) }

let signalSources = cleanup.installSignalHandlers(benchName: "lineage-bench-replication")
do {
    let (disk, levels) = try await runBenchmark()
    print("limit: one writer's 4 KiB write + fdatasync in \(parentDirectory): \(Int(disk.perSecond))/s, p50 \(milliseconds(disk.p50)) ms")
    print("payload \(payloadBytes) B, \(secondsPerLevel) s per level after \(warmup) of warm-up, \(requestsPerConnection) requests per connection")
    print("CPU µs per acknowledged request: servers = the system's three (a no-op row: its leader alone), client = this process")
    print("| system | concurrent requests | acknowledged/s | p50 ms | p99 ms | failed | servers' CPU µs | client's CPU µs |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels {
        print("| \(level.system) | \(level.concurrency) | \(Int(level.perSecond)) | \(milliseconds(level.latencies.percentile(0.5))) | \(milliseconds(level.latencies.percentile(0.99))) | \(level.failed) | \(level.perRequest(level.serverCPU)) | \(level.perRequest(level.clientCPU)) |")
    }
    cleanup.run()
} catch {
    print("lineage-bench-replication failed: \(error)")
    cleanup.run()
    exit(1)
}
_ = signalSources
