// lineage-bench-agent: what a workload waits for, against real `lineage-server run` and
// `lineage-agent run` child processes (taken from this executable's build folder):
//   - FetchX509SVID time to first response from the agent's cache (same connection, and a fresh
//     connection per call);
//   - propagation: `BatchCreateEntry` returning → the new SVID on an already open stream;
//   - beside them, the limits the path cannot avoid: a grpc.health.v1 Check round trip on the
//     agent's socket, and the server's durable append (the BatchCreateEntry call itself).
// Build the three products in release, then run:
//   swift build -c release --product lineage-server
//   swift build -c release --product lineage-agent
//   swift build -c release --product lineage-bench-agent
//   .build/release/lineage-bench-agent [parent-directory]   # default /var/tmp (the disk under test)
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

let fetchCalls = 2000
let healthCalls = 2000
let warmupCalls = 50
let propagationEntries = 200
let waitLimit = Duration.seconds(10)
let trustDomain = "example.org"
let nodeID = "spiffe://\(trustDomain)/bench/node"
let workloadID = "spiffe://\(trustDomain)/bench/workload"
let uid = getuid()
let workloadHeader: Metadata = ["workload.spiffe.io": "true"]

var callOptions: CallOptions {
    var options = CallOptions.defaults
    options.timeout = waitLimit
    return options
}

let cleanup = Cleanup()

typealias Transport = HTTP2ClientTransport.Posix

func withUnixClient<R: Sendable>(_ path: String, _ body: (GRPCClient<Transport>) async throws -> R) async throws -> R {
    try await withGRPCClient(
        transport: try .http2NIOPosix(target: .unixDomainSocket(path: path), transportSecurity: .plaintext),
        handleClient: body)
}

/// One FetchX509SVID: opens the stream and returns the first message.
func firstX509Response(_ client: WorkloadAPI_SpiffeWorkloadAPI.Client<Transport>) async throws
    -> WorkloadAPI_X509SVIDResponse
{
    try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader, options: callOptions) {
        response in
        for try await message in response.messages { return message }
        throw BenchFailure("FetchX509SVID ended without a response")
    }
}

/// SPIFFE ID → the instant it first appeared on the watched stream.
final class Arrivals: Sendable {
    private let seen = Mutex<[String: ContinuousClock.Instant]>([:])

    func record(_ message: WorkloadAPI_X509SVIDResponse) {
        let now = ContinuousClock.now
        seen.withLock { seen in
            for svid in message.svids where seen[svid.spiffeID] == nil { seen[svid.spiffeID] = now }
        }
    }

    func arrival(of id: String) -> ContinuousClock.Instant? { seen.withLock { $0[id] } }
}

// MARK: The run

let runDirectory =
    (CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/var/tmp") + "/lineage-bench-agent-\(getpid())"

func runBenchmark() async throws -> [Row] {
    let root = runDirectory
    try FileManager.default.createDirectory(atPath: root + "/server", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/agent", withIntermediateDirectories: true)
    cleanup.setDirectory(root)
    let serverTool = try siblingProduct("lineage-server")
    let agentTool = try siblingProduct("lineage-agent")
    let serverSocket = root + "/server.sock"
    let agentSocket = root + "/agent.sock"
    let port = try freePort()

    try """
    server {
        bind_address = "127.0.0.1"
        bind_port = "\(port)"
        socket_path = "\(serverSocket)"
        trust_domain = "\(trustDomain)"
        data_dir = "\(root)/server"
        log_level = "WARN"
        ca_ttl = "24h"
        default_x509_svid_ttl = "1h"
    }
    plugins {
        KeyManager "disk" {
            plugin_data { keys_path = "\(root)/server/keys.json" }
        }
        NodeAttestor "join_token" {
            plugin_data {}
        }
    }
    """.write(toFile: root + "/server.conf", atomically: true, encoding: .utf8)

    let serverLog = root + "/server.log"
    _ = try cleanup.start(serverTool, ["run", "-config", root + "/server.conf"], logPath: serverLog)
    try await waitUntil("lineage-server", limit: .seconds(60), logPath: serverLog) {
        guard access(serverSocket, F_OK) == 0 else { return false }
        return (try? await withUnixClient(serverSocket) { grpc in
            var options = CallOptions.defaults
            options.timeout = .seconds(2)
            return try await Grpc_Health_V1_Health.Client(wrapping: grpc)
                .check(Grpc_Health_V1_HealthCheckRequest(), options: options).status == .serving
        }) ?? false
    }

    let socketFlag = ["-socketPath", serverSocket]
    let tokenOutput = try await cleanup.runTool(serverTool, ["token", "generate", "-spiffeID", nodeID] + socketFlag, directory: root)
    guard let tokenLine = tokenOutput.split(separator: "\n").first(where: { $0.hasPrefix("Token: ") }) else {
        throw BenchFailure("no token in `token generate` output:\n\(tokenOutput)")
    }
    let token = String(tokenLine.dropFirst("Token: ".count))
    _ = try await cleanup.runTool(
        serverTool,
        ["entry", "create", "-parentID", nodeID, "-spiffeID", workloadID, "-selector", "unix:uid:\(uid)"] + socketFlag,
        directory: root)
    let bundle = try await cleanup.runTool(serverTool, ["bundle", "show"] + socketFlag, directory: root)
    try bundle.write(toFile: root + "/bundle.pem", atomically: true, encoding: .utf8)

    try """
    agent {
        data_dir = "\(root)/agent"
        log_level = "WARN"
        server_address = "127.0.0.1"
        server_port = "\(port)"
        socket_path = "\(agentSocket)"
        trust_bundle_path = "\(root)/bundle.pem"
        trust_domain = "\(trustDomain)"
    }
    plugins {
        NodeAttestor "join_token" {
            plugin_data {}
        }
        KeyManager "disk" {
            plugin_data { directory = "\(root)/agent" }
        }
        WorkloadAttestor "unix" {
            plugin_data {}
        }
    }
    """.write(toFile: root + "/agent.conf", atomically: true, encoding: .utf8)

    let agentLog = root + "/agent.log"
    _ = try cleanup.start(agentTool, ["run", "-config", root + "/agent.conf", "-joinToken", token], logPath: agentLog)
    try await waitUntil("lineage-agent (the workload's SVID)", limit: .seconds(60), logPath: agentLog) {
        guard access(agentSocket, F_OK) == 0 else { return false }
        let first = try? await withUnixClient(agentSocket) { grpc in
            try await firstX509Response(WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc))
        }
        return first?.svids.contains { $0.spiffeID == workloadID } ?? false
    }

    let clock = ContinuousClock()
    var rows: [Row] = []

    // The limit: a unary round trip on one connection to the agent's socket.
    rows.append(try await step("health round trips on the agent socket") { try await withUnixClient(agentSocket) { grpc in
        let health = Grpc_Health_V1_Health.Client(wrapping: grpc)
        var samples: [Duration] = []
        for call in 0..<(warmupCalls + healthCalls) {
            let start = clock.now
            let status = try await health.check(Grpc_Health_V1_HealthCheckRequest(), options: callOptions).status
            let elapsed = clock.now - start
            guard status == .serving else { throw BenchFailure("agent health: \(status)") }
            if call >= warmupCalls { samples.append(elapsed) }
        }
        return Row(name: "limit: grpc.health.v1 Check, agent socket, same connection", samples: samples)
    } })

    // FetchX509SVID, a new stream per call on one connection. The client ends each stream with
    // RST_STREAM (the server never ends FetchX509SVID), and grpc-swift's HTTP/2 server closes a
    // connection after 200 resets in 10 s (the rapid-reset guard), so a connection carries one
    // untimed warm-up stream and then `streamsPerConnection` timed ones.
    let streamsPerConnection = 100
    var sameConnectionSamples: [Duration] = []
    for connection in 0..<(fetchCalls / streamsPerConnection) {
        try await step("FetchX509SVID on one connection (connection \(connection))") {
            try await withUnixClient(agentSocket) { grpc in
                let workload = WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc)
                _ = try await firstX509Response(workload)
                for _ in 0..<streamsPerConnection {
                    let start = clock.now
                    let first = try await firstX509Response(workload)
                    let elapsed = clock.now - start
                    guard first.svids.contains(where: { $0.spiffeID == workloadID }) else {
                        throw BenchFailure("FetchX509SVID answered without \(workloadID)")
                    }
                    sameConnectionSamples.append(elapsed)
                }
            }
        }
    }
    rows.append(Row(name: "FetchX509SVID first response, same connection, new stream", samples: sameConnectionSamples))

    // FetchX509SVID over a fresh connection each time (connect + HTTP/2 setup + attestation + first message).
    var freshSamples: [Duration] = []
    for call in 0..<(warmupCalls + fetchCalls) {
        let start = clock.now
        let first = try await step("FetchX509SVID over a fresh connection (call \(call))") {
            try await withUnixClient(agentSocket) { grpc in
                try await firstX509Response(WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc))
            }
        }
        let elapsed = clock.now - start
        guard first.svids.contains(where: { $0.spiffeID == workloadID }) else {
            throw BenchFailure("FetchX509SVID answered without \(workloadID)")
        }
        if call >= warmupCalls { freshSamples.append(elapsed) }
    }
    rows.append(Row(name: "FetchX509SVID first response, fresh connection each call", samples: freshSamples))

    // Propagation: one open stream; entries created one at a time over the admin socket.
    let arrivals = Arrivals()
    let (appendSamples, propagationSamples) = try await step("propagation") { try await withUnixClient(agentSocket) { agentGRPC in
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let workload = WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: agentGRPC)
                try await workload.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) { response in
                    for try await message in response.messages { arrivals.record(message) }
                }
                throw BenchFailure("the watched FetchX509SVID stream ended")
            }
            let deadline = clock.now + waitLimit
            while arrivals.arrival(of: workloadID) == nil {
                guard clock.now < deadline else { throw BenchFailure("the watched stream sent no SVID in 10 s") }
                try await Task.sleep(for: .milliseconds(1))
            }
            let measured = try await withUnixClient(serverSocket) { serverGRPC in
                let entries = Spire_Api_Server_Entry_V1_Entry.Client(wrapping: serverGRPC)
                var appends: [Duration] = []
                var propagations: [Duration] = []
                var parent = Spire_Api_Types_SPIFFEID()
                parent.trustDomain = trustDomain
                parent.path = "/bench/node"
                var selector = Spire_Api_Types_Selector()
                selector.type = "unix"
                selector.value = "uid:\(uid)"
                for index in 0..<propagationEntries {
                    var entry = Spire_Api_Types_Entry()
                    entry.parentID = parent
                    entry.spiffeID.trustDomain = trustDomain
                    entry.spiffeID.path = "/bench/propagation/\(index)"
                    entry.selectors = [selector]
                    let id = "spiffe://\(trustDomain)/bench/propagation/\(index)"
                    var request = Spire_Api_Server_Entry_V1_BatchCreateEntryRequest()
                    request.entries = [entry]
                    let start = clock.now
                    let response = try await entries.batchCreateEntry(request, options: callOptions)
                    let created = clock.now
                    guard let result = response.results.first, result.status.code == 0 else {
                        throw BenchFailure("BatchCreateEntry \(id): \(response.results.first?.status.message ?? "no result")")
                    }
                    appends.append(created - start)
                    let limit = created + waitLimit
                    while true {
                        if let arrived = arrivals.arrival(of: id) {
                            propagations.append(arrived - created)
                            break
                        }
                        guard clock.now < limit else {
                            throw BenchFailure("the SVID for \(id) (entry \(index + 1) of \(propagationEntries)) did not arrive on the open FetchX509SVID stream within 10 s of entry create returning")
                        }
                        try await Task.sleep(for: .microseconds(200))
                    }
                }
                return (appends, propagations)
            }
            group.cancelAll()
            return measured
        }
    } }
    rows.append(Row(name: "limit: BatchCreateEntry (1 entry; durable append), admin socket", samples: appendSamples))
    rows.append(Row(name: "propagation: entry create returned → SVID on open stream", samples: propagationSamples))
    return rows
}

// MARK: Main

let signalSources = cleanup.installSignalHandlers(benchName: "lineage-bench-agent")
do {
    let rows = try await runBenchmark()
    print("| case | calls | p50 µs | p99 µs | max µs |")
    print("|---|---:|---:|---:|---:|")
    for row in rows {
        print("| \(row.name) | \(row.samples.count) | \(microseconds(row.percentile(0.5))) | \(microseconds(row.percentile(0.99))) | \(microseconds(row.percentile(1.0))) |")
    }
    cleanup.run()
} catch {
    print("lineage-bench-agent failed: \(error)")
    for log in ["server.log", "agent.log"] {
        print("--- last lines of \(log)\n\(logTail(runDirectory + "/" + log))")
    }
    cleanup.run()
    exit(1)
}
_ = signalSources
