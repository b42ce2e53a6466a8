import FaultCheck
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Synchronization
import Wire

/// The suite's clients: each records every operation (invoke, then ok / fail / timeout) with
/// the run's monotonic clock. Appends are `BatchCreateEntry` of one entry with a SPIFFE ID
/// unique to the operation; reads are `ListEntries` (what `entry show` calls), on the admin
/// socket of a chosen server.
public final class Workload: Sendable {
    public let cluster: FaultCluster
    private let operations = Mutex<[ClientOperation]>([])
    /// Appends invoked and not yet ended, by key: if a call never returns, `stop` records it
    /// as indeterminate rather than leaving a key in the log that no client wrote.
    private let pending = Mutex<[String: ClientOperation]>([:])
    private let tasks = Mutex<[Task<Void, Never>]>([])
    private let counter = Atomic<Int>(0)
    /// How long a client waits for one call: beyond the server's own leader wait (10 s) would
    /// only slow the run; a call cut short is recorded as indeterminate.
    public let callTimeout: Duration

    public init(cluster: FaultCluster, callTimeout: Duration = .seconds(5)) {
        self.cluster = cluster
        self.callTimeout = callTimeout
    }

    public var history: [ClientOperation] { operations.withLock { $0 } }

    /// Starts `appenders` clients (client i on node i mod n, or on `target` when set) and
    /// `readers` clients reading from a node in turn, until `stop()`.
    public func start(appenders: Int, readers: Int, pauseBetween: Duration = .milliseconds(10)) {
        let nodes = cluster.nodes
        var started: [Task<Void, Never>] = []
        for client in 0..<appenders {
            started.append(Task { [self] in
                while !Task.isCancelled {
                    let node = nodes[client % nodes.count]
                    let outcome = await append(client: client, on: node)
                    // A node that is down answers at once; don't spin on it.
                    try? await Task.sleep(for: outcome == .ok ? pauseBetween : .milliseconds(200))
                }
            })
        }
        for reader in 0..<readers {
            started.append(Task { [self] in
                var turn = reader
                while !Task.isCancelled {
                    turn += 1
                    await read(client: 1000 + reader, on: nodes[turn % nodes.count])
                    try? await Task.sleep(for: .milliseconds(100))
                }
            })
        }
        tasks.withLock { $0 += started }
    }

    /// Cancels the clients and waits for their last calls to end, at most `callTimeout` plus
    /// 10 s; returns how many appends had still not returned (recorded as indeterminate).
    @discardableResult
    public func stop() async -> Int {
        let running = tasks.withLock { tasks in defer { tasks = [] }; return tasks }
        for task in running { task.cancel() }
        let deadline = ContinuousClock.now + callTimeout + .seconds(10)
        // Unstructured, so a call that never returns cannot hold this wait (a task group would).
        let ended = Atomic<Bool>(false)
        let waiter = Task { for task in running { await task.value } }
        Task { await waiter.value; ended.store(true, ordering: .releasing) }
        while !ended.load(ordering: .acquiring), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let stuck = pending.withLock { pending in defer { pending = [:] }; return Array(pending.values) }
        for operation in stuck { record(operation) }
        return stuck.count
    }

    /// One append of a fresh key on `node`, recorded; returns its outcome.
    @discardableResult
    public func append(client: Int, on node: FaultNode) async -> Outcome {
        let sequence = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let path = "/fault/c\(client)-\(sequence)"
        let key = "spiffe://example.org" + path
        let invoked = cluster.clock.now()
        pending.withLock {
            $0[key] = ClientOperation(kind: .append(key: key), client: client, server: node.name, invoked: invoked, completed: nil, outcome: .timeout)
        }
        let outcome: Outcome
        do {
            var entry = Spire_Api_Types_Entry()
            entry.parentID.trustDomain = "example.org"
            entry.parentID.path = "/fault/agent"
            entry.spiffeID.trustDomain = "example.org"
            entry.spiffeID.path = path
            var selector = Spire_Api_Types_Selector()
            selector.type = "unix"
            selector.value = "uid:\(1000 + client)"
            entry.selectors = [selector]
            var request = Spire_Api_Server_Entry_V1_BatchCreateEntryRequest()
            request.entries = [entry]
            let finalRequest = request
            let response = try await call(node) { client, options in
                try await Spire_Api_Server_Entry_V1_Entry.Client(wrapping: client).batchCreateEntry(finalRequest, options: options)
            }
            outcome = response.results.first.map { Self.classify(Int($0.status.code)) } ?? .timeout
        } catch let error as RPCError {
            outcome = Self.classify(error.code.rawValue)
        } catch {
            outcome = .timeout
        }
        let completed = outcome == .timeout ? nil : cluster.clock.now()
        // Already recorded as indeterminate when `stop` gave up on it.
        guard pending.withLock({ $0.removeValue(forKey: key) }) != nil else { return outcome }
        record(ClientOperation(kind: .append(key: key), client: client, server: node.name, invoked: invoked,
                         completed: completed, outcome: outcome))
        return outcome
    }

    /// One read of every suite key `node` holds, recorded.
    public func read(client: Int, on node: FaultNode) async {
        let invoked = cluster.clock.now()
        do {
            let response = try await call(node) { client, options in
                // Page size 0: all entries in one answer, from one state of the projection.
                try await Spire_Api_Server_Entry_V1_Entry.Client(wrapping: client).listEntries(
                    Spire_Api_Server_Entry_V1_ListEntriesRequest(), options: options)
            }
            let keys = response.entries.map { "spiffe://\($0.spiffeID.trustDomain)\($0.spiffeID.path)" }
                .filter { $0.hasPrefix(FaultCluster.keyPrefix) }
            record(ClientOperation(kind: .read, client: client, server: node.name, invoked: invoked, completed: cluster.clock.now(),
                             outcome: .ok, observed: keys))
        } catch {
            record(ClientOperation(kind: .read, client: client, server: node.name, invoked: invoked, completed: cluster.clock.now(),
                             outcome: .fail))
        }
    }

    func record(_ operation: ClientOperation) {
        operations.withLock { $0.append(operation) }
    }

    /// A definite answer that precedes any append (bad request, permission) is `fail`;
    /// Unavailable, deadline, cancellation and transport trouble leave the outcome open.
    static func classify(_ code: Int) -> Outcome {
        switch code {
        case 0: .ok
        // INVALID_ARGUMENT, UNIMPLEMENTED, PERMISSION_DENIED, UNAUTHENTICATED.
        case 3, 12, 7, 16: .fail
        default: .timeout
        }
    }

    /// A fresh connection per call: a killed and restarted server must not leave a client in
    /// gRPC's reconnect backoff (up to minutes), which would measure the client, not the cluster.
    func call<R: Sendable>(
        _ node: FaultNode, _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> R
    ) async throws -> R {
        var options = CallOptions.defaults
        options.timeout = callTimeout
        options.waitForReady = false
        options.maxResponseMessageBytes = 64 << 20
        let transport = try HTTP2ClientTransport.Posix(
            target: .unixDomainSocket(path: node.socketPath), transportSecurity: .plaintext,
            config: .defaults { $0.backoff.initial = .milliseconds(10) })
        let finalOptions = options
        return try await withGRPCClient(transport: transport) { client in try await body(client, finalOptions) }
    }
}
