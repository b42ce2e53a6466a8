import Consensus
import FaultCheck
import Foundation
import IdentityModel
import LogStore
import NIOCore
import NIOPosix
import Server
import SPIFFE
import Synchronization

/// A static cluster of real `lineage-server` processes on loopback whose peer links all go
/// through `LinkProxy`s (one per directed link: node A's config names node B at the proxy
/// A→B), plus what the checker needs from it: leadership samples and the final logs.
public final class FaultCluster: Sendable {
    public let nodes: [FaultNode]
    /// `links[from][to]`: what `from` dials to reach `to`.
    public let links: [String: [String: LinkProxy]]
    public let directory: String
    public let clock: RunClock
    private let samples = Mutex<[LeaderObservation]>([])
    private let sampler = Mutex<Task<Void, Never>?>(nil)

    /// Prefix of every SPIFFE ID the suite's clients register; other log records are not theirs.
    public static let keyPrefix = "spiffe://example.org/fault/"

    /// `executable`: the lineage-server binary. `proxied`: false dials peers directly (for
    /// measuring what the proxies cost).
    public init(size: Int = 3, executable: String, clock: RunClock, proxied: Bool = true) throws {
        self.clock = clock
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString.prefix(8))").path
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let upstream = try UpstreamCA(directory: directory)
        let names = (1...size).map { "s\($0)" }
        // TLS ports base+10i (health +1, metrics +2); proxy i→j at base+200+10i+j.
        // Below Linux's ephemeral range (32768–60999), so no outgoing connection holds one.
        let base = Int.random(in: 10_000...32_000)
        func serverPort(_ i: Int) -> Int { base + 10 * i }
        func proxyPort(_ i: Int, _ j: Int) -> Int { base + 200 + 10 * i + j }
        var links: [String: [String: LinkProxy]] = [:]
        for i in names.indices {
            for j in names.indices where j != i {
                links[names[i], default: [:]][names[j]] = LinkProxy(
                    name: "\(names[i])→\(names[j])", listenPort: proxyPort(i, j), targetPort: serverPort(j))
            }
        }
        self.links = links
        nodes = try names.indices.map { i in
            try FaultNode(
                name: names[i], id: UInt64(i + 1), executable: executable, parent: directory,
                port: serverPort(i),
                peers: names.indices.filter { $0 != i }.map { (names[$0], proxied ? proxyPort(i, $0) : serverPort($0)) },
                upstream: upstream)
        }
    }

    public func node(_ name: String) -> FaultNode { nodes.first { $0.name == name }! }

    // MARK: - Lifecycle

    /// Starts the proxies, every node, and the leadership sampler; waits for one leader.
    public func start() async throws {
        for proxy in links.values.flatMap(\.values) { try await proxy.start() }
        for node in nodes { try node.launch() }
        startSampler()
        _ = try await waitForLeader(within: .seconds(60))
    }

    /// Stops everything and removes the directory (keeps it when `keep`, for a post-mortem).
    public func shutdown(keep: Bool = false) async {
        sampler.withLock { $0?.cancel() }
        for node in nodes { await node.kill(SIGTERM) }
        for proxy in links.values.flatMap(\.values) { await proxy.stop() }
        if !keep { try? FileManager.default.removeItem(atPath: directory) }
    }

    // MARK: - Faults

    /// Cuts every link between `side` and the other nodes, both directions.
    public func isolate(_ side: Set<String>, mode: LinkProxy.Mode = .drop) {
        for (from, targets) in links {
            for (to, proxy) in targets where side.contains(from) != side.contains(to) { proxy.set(mode) }
        }
    }

    public func healAll() {
        for proxy in links.values.flatMap(\.values) { proxy.set(.pass) }
    }

    // MARK: - Observing

    public struct Status: Sendable {
        public var term: UInt64
        public var leader: UInt64
        public var isLeader: Bool
        public var commitIndex: UInt64
        public var appliedIndex: UInt64
    }

    /// One node's Raft status from its metrics; nil when it does not answer within 500 ms.
    public func status(_ node: FaultNode) async -> Status? {
        guard node.isRunning, !node.isPaused,
              let text = try? await HTTPGet.fetch(port: node.metricsPort, path: "/metrics", timeout: .milliseconds(500))
        else { return nil }
        var values: [String: UInt64] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("lineage_") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = UInt64(parts[1]) { values[String(parts[0])] = value }
        }
        guard let term = values["lineage_raft_term"], let leader = values["lineage_raft_leader_id"],
              let isLeader = values["lineage_raft_is_leader"], let commit = values["lineage_log_commit_index"],
              let applied = values["lineage_log_applied_index"]
        else { return nil }
        return Status(term: term, leader: leader, isLeader: isLeader == 1, commitIndex: commit, appliedIndex: applied)
    }

    /// The node that says it leads, when exactly one running node does and the others that
    /// answer agree.
    public func leader() async -> FaultNode? {
        var leaders: [FaultNode] = []
        for node in nodes { if let status = await status(node), status.isLeader { leaders.append(node) } }
        return leaders.count == 1 ? leaders[0] : nil
    }

    public func waitForLeader(among candidates: [FaultNode]? = nil, within timeout: Duration) async throws -> FaultNode {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let leader = await leader(), candidates?.contains(where: { $0 === leader }) ?? true { return leader }
            try await Task.sleep(for: .milliseconds(20))
        }
        var seen: [String] = []
        for node in nodes {
            let status = await status(node)
            seen.append("\(node.name): " + (status.map { "term \($0.term) leader \($0.leader) commit \($0.commitIndex)" } ?? "no answer"))
        }
        throw HarnessError("no single leader within \(timeout): \(seen.joined(separator: "; "))")
    }

    /// Samples every node's (term, leader) every 25 ms for the "two leaders in one term" rule.
    /// Its limits: a leadership shorter than a sampling period can go unseen, and a paused or
    /// killed node is not sampled.
    private func startSampler() {
        let task = Task { [self] in
            while !Task.isCancelled {
                await withTaskGroup(of: Void.self) { group in
                    for node in nodes {
                        group.addTask { [self] in
                            guard let status = await status(node) else { return }
                            let leader = status.isLeader ? node.id : status.leader
                            let at = clock.now()
                            samples.withLock { $0.append(LeaderObservation(server: node.name, term: status.term, leader: leader, at: at)) }
                        }
                    }
                }
                try? await Task.sleep(for: .milliseconds(25))
            }
        }
        sampler.withLock { $0 = task }
    }

    public var leaderSamples: [LeaderObservation] { samples.withLock { $0 } }

    /// Waits until every node runs, one leads, and all report the same commit and applied
    /// index twice in a row 300 ms apart (nothing in flight).
    public func waitForConvergence(within timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var previous: [UInt64]?
        var last: [Status?] = []
        while ContinuousClock.now < deadline {
            last = []
            for node in nodes { last.append(await status(node)) }
            let all = last.compactMap { $0 }
            let indexes = all.flatMap { [$0.commitIndex, $0.appliedIndex] }
            if all.count == nodes.count, all.count(where: { $0.isLeader }) == 1, Set(indexes).count == 1 {
                if previous == indexes { return }
                previous = indexes
            } else {
                previous = nil
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        throw HarnessError("the cluster did not converge within \(timeout): \(last)")
    }

    /// Each node's log through its applied index, as the checker's records. Read through
    /// LogStore read-only, so it works on stopped and running nodes alike.
    public func finalLogs() throws -> [ServerLog] {
        try nodes.map { node in
            let store = try LogStore(directory: DataDirectory.logStore(node.dataDir), options: .readOnly)
            defer { try? store.close() }
            let applied = try store.appliedIndex()
            var records: [LogRecord] = []
            // A second copy of a request (a forwarded write appended by two leaders) is skipped
            // at apply, by replay and by `log verify` (the replicated request table): it is in
            // the log but not in the history, so it carries no key here. The table keeps the
            // last 65,536 requests, far more than a run writes.
            var requests = Set<Consensus.RequestID>()
            try LogHistory.forEachRecord(in: store, to: applied) { record in
                var key: String?
                let repeated = record.requestID != .none && !requests.insert(record.requestID).inserted
                if !repeated, case .registrationEntryCreated(let created)? = record.envelope?.event {
                    let id = created.entry.spiffeID.description
                    if id.hasPrefix(Self.keyPrefix) { key = id }
                }
                records.append(LogRecord(index: record.index, term: record.term, key: key))
                return true
            }
            return ServerLog(server: node.name, records: records)
        }
    }
}

/// Monotonic nanoseconds since the run began, shared by every recorder of one run.
public struct RunClock: Sendable {
    public let start = ContinuousClock.now
    public init() {}

    public func now() -> Nanoseconds { nanoseconds(ContinuousClock.now) }

    public func nanoseconds(_ instant: ContinuousClock.Instant) -> Nanoseconds {
        let elapsed = (instant - start).components
        return UInt64(max(0, elapsed.seconds)) * 1_000_000_000 + UInt64(max(0, elapsed.attoseconds) / 1_000_000_000)
    }
}
