import Consensus
import FaultCheck
import Foundation
import IdentityModel
import LogStore
import NIOCore
import NIOPosix
import Projections
import Server
import SPIFFE
import Synchronization

/// A static cluster of real `lineage-server` processes on loopback whose peer links all go
/// through `LinkProxy`s (one per directed link: node A's config names node B at the proxy
/// A→B), plus what the checker needs from it: leadership samples and the final logs.
public final class FaultCluster: Sendable {
    /// The members now: the bootstrap nodes, plus one that joined, minus one that left.
    public var nodes: [FaultNode] { members.withLock { $0.current } }
    /// `links[from][to]`: what `from` dials to reach `to` (bootstrap nodes only; a joined
    /// node dials and is dialled at the addresses in the member registry, unproxied).
    public let links: [String: [String: LinkProxy]]
    public let directory: String
    public let clock: RunClock
    private let samples = Mutex<[LeaderObservation]>([])
    private let sampler = Mutex<Task<Void, Never>?>(nil)
    /// `retired`: removed from the cluster; their logs are checked for agreement only.
    private let members: Mutex<(current: [FaultNode], retired: [FaultNode])>
    private let executable: String
    private let upstream: UpstreamCA
    private let basePort: Int
    public let snapshotIntervalEntries: Int?

    /// Prefix of every SPIFFE ID the suite's clients register; other log records are not theirs.
    public static let keyPrefix = "spiffe://example.org/fault/"

    /// `executable`: the lineage-server binary. `proxied`: false dials peers directly (for
    /// measuring what the proxies cost).
    /// `snapshotIntervalEntries`: every node compacts its log every that many entries (nil:
    /// the server's default, so never in a run of this length).
    public init(size: Int = 3, executable: String, clock: RunClock, proxied: Bool = true, snapshotIntervalEntries: Int? = nil) throws {
        self.clock = clock
        self.executable = executable
        self.snapshotIntervalEntries = snapshotIntervalEntries
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("faults-\(UUID().uuidString.prefix(8))").path
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let upstream = try UpstreamCA(directory: directory)
        self.upstream = upstream
        let names = (1...size).map { "s\($0)" }
        // TLS ports base+10i (health +1, metrics +2), joiners after them; proxy i→j at
        // base+200+10i+j. Below Linux's ephemeral range (32768–60999), so no outgoing
        // connection holds one.
        let base = Int.random(in: 10_000...32_000)
        basePort = base
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
        let nodes = try names.indices.map { i in
            try FaultNode(
                name: names[i], id: UInt64(i + 1), executable: executable, parent: directory,
                port: serverPort(i),
                peers: names.indices.filter { $0 != i }.map { (names[$0], proxied ? proxyPort(i, $0) : serverPort($0)) },
                upstream: upstream, snapshotIntervalEntries: snapshotIntervalEntries)
        }
        members = Mutex((nodes, []))
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

    // MARK: - Membership

    /// Starts a new server with `join = true` and runs `lineage-server cluster join` against
    /// `via`'s TLS listener (a follower forwards to the leader), retrying until the new server's
    /// admin socket answers; returns it once it is a member.
    public func join(name: String, via: FaultNode, within timeout: Duration = .seconds(60)) async throws -> FaultNode {
        let index = members.withLock { $0.current.count + $0.retired.count }
        let node = try FaultNode(
            // IDs of joined members come after every ID seen so far (docs/ha.md), so 4, 5, …
            name: name, id: UInt64(index + 1), executable: executable, parent: directory, port: basePort + 10 * index, peers: nil,
            upstream: upstream, snapshotIntervalEntries: snapshotIntervalEntries)
        try node.launch()
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            let answer = try await node.command(["cluster", "join", "-address", "127.0.0.1:\(via.port)", "-socketPath", node.socketPath])
            if answer.status == 0 {
                members.withLock { $0.current.append(node) }
                return node
            }
            last = answer.output
            try await Task.sleep(for: .milliseconds(200))
        }
        await node.kill(SIGTERM)
        throw HarnessError("\(name) did not join via \(via.name) within \(timeout): \(last)")
    }

    /// Runs `lineage-server cluster leave -name` on `via` (retrying while the cluster has no
    /// leader), then stops the removed server and keeps its log for the agreement check.
    public func leave(_ node: FaultNode, via: FaultNode, within timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            let answer = try await via.command(["cluster", "leave", "-name", node.name, "-socketPath", via.socketPath])
            if answer.status == 0 {
                members.withLock { members in
                    members.current.removeAll { $0 === node }
                    members.retired.append(node)
                }
                await node.kill(SIGTERM)
                return
            }
            last = answer.output
            try await Task.sleep(for: .milliseconds(200))
        }
        throw HarnessError("\(node.name) did not leave via \(via.name) within \(timeout): \(last)")
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

    /// Waits until every node in `nodes` (default: all) has applied what the leader had
    /// committed when the wait began: caught up while the clients go on writing, which
    /// `waitForConvergence` (nothing in flight) cannot see.
    public func waitForCatchUp(_ nodes: [FaultNode]? = nil, within timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        var target: UInt64?
        var last: [String] = []
        while ContinuousClock.now < deadline {
            if target == nil, let leader = await leader(), let status = await status(leader) { target = status.commitIndex }
            if let target {
                last = []
                var behind = false
                for node in nodes ?? self.nodes {
                    let applied = await status(node)?.appliedIndex
                    last.append("\(node.name): \(applied.map(String.init) ?? "no answer")")
                    if (applied ?? 0) < target { behind = true }
                }
                if !behind { return }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("not caught up to the leader's commit index \(target.map(String.init) ?? "(no leader)") within \(timeout): \(last)")
    }

    /// Each node's log through its applied index, as the checker's records. Read through
    /// LogStore read-only, so it works on stopped and running nodes alike.
    /// A compacted log comes with the keys of the node's state (the projection tables, through
    /// the same applied index), which is all that is left of its compacted prefix; a removed
    /// member's log is marked retired.
    public func finalLogs() throws -> [ServerLog] {
        let (current, retired) = members.withLock { ($0.current, $0.retired) }
        return try current.map { try Self.finalLog(of: $0, retired: false) } + retired.map { try Self.finalLog(of: $0, retired: true) }
    }

    static func finalLog(of node: FaultNode, retired: Bool) throws -> ServerLog {
        do {
            let store = try LogStore(directory: DataDirectory.logStore(node.dataDir), options: .readOnly)
            defer { try? store.close() }
            let applied = try store.appliedIndex()
            let compactedThrough = try store.firstIndex - 1
            let state = try ProjectionApplier.load(from: store).entries.values
                .map { $0.spiffeID.description }.filter { $0.hasPrefix(Self.keyPrefix) }
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
            return ServerLog(server: node.name, records: records, compactedThrough: compactedThrough, state: state, retired: retired)
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
