import FaultCheck
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The fault scenarios, run one after another on one cluster under one continuous workload,
/// then checked together: the short form in `swift test` and the long form in
/// `lineage-bench-faults suite` differ only in these numbers.
public struct FaultSuite: Sendable {
    public struct Plan: Sendable {
        /// SIGKILL of the leader during writes, each followed by a restart of the killed node.
        public var leaderKills: Int
        /// Leader cut off from both others (the proxies drop its links), then healed.
        public var isolations: Int
        /// SIGSTOP of the leader for `pauseLength` (> the election timeout), then SIGCONT.
        public var pauses: Int
        /// Every node SIGKILLed at once, then all restarted.
        public var fullRestarts: Int
        /// SIGTERM of the leader while the clients write: it must stop gracefully (exit 0);
        /// then it restarts.
        public var leaderStops: Int
        /// A follower cut off until the leader has compacted its log past the follower's last
        /// entry, then healed: it must catch up by installing a streamed snapshot.
        public var followerCatchUps: Int
        /// A fourth server joins (`cluster join`) and then leaves (`cluster leave`) while the
        /// clients write.
        public var membershipChanges: Int
        /// Every node compacts its log every this many entries (the catch-up scenario needs it).
        public var snapshotIntervalEntries: Int?
        public var pauseLength: Duration = .milliseconds(2500)
        public var isolationLength: Duration = .milliseconds(3000)
        public var appenders = 3
        public var readers = 1

        public static let short = Plan(
            leaderKills: 3, isolations: 1, pauses: 1, fullRestarts: 1, followerCatchUps: 1, membershipChanges: 1,
            snapshotIntervalEntries: 50, leaderStops: 2)
        public static let long = Plan(
            leaderKills: 100, isolations: 5, pauses: 5, fullRestarts: 3, followerCatchUps: 3, membershipChanges: 2,
            snapshotIntervalEntries: 200, leaderStops: 20)

        public init(
            leaderKills: Int, isolations: Int, pauses: Int, fullRestarts: Int, followerCatchUps: Int = 0, membershipChanges: Int = 0,
            snapshotIntervalEntries: Int? = nil, leaderStops: Int = 0
        ) {
            self.leaderStops = leaderStops
            self.leaderKills = leaderKills
            self.isolations = isolations
            self.pauses = pauses
            self.fullRestarts = fullRestarts
            self.followerCatchUps = followerCatchUps
            self.membershipChanges = membershipChanges
            self.snapshotIntervalEntries = snapshotIntervalEntries
        }
    }

    public struct Result: Sendable {
        public var report: Checker.Report
        /// Appends acknowledged by a node while it was cut off or paused (must be none).
        public var minorityAcknowledgements: [String]
        public var elapsed: Duration
        public var timeline: [String]

        /// Streamed snapshots the cut-off followers installed (the catch-up scenario needs ≥ 1 each).
        public var snapshotsInstalled = 0
        public var membersJoined = 0
        /// Servers that did not exit 0 on the final SIGTERM (e.g. a crash while stopping).
        public var uncleanStops: [String] = []

        public var violations: [String] { report.violations.map(\.description) + minorityAcknowledgements }
    }

    public let executable: String
    public let plan: Plan
    /// Progress lines (the long form prints them).
    public let log: @Sendable (String) -> Void

    public init(executable: String, plan: Plan, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.executable = executable
        self.plan = plan
        self.log = log
    }

    public func run() async throws -> Result {
        let clock = RunClock()
        let cluster = try FaultCluster(executable: executable, clock: clock, snapshotIntervalEntries: plan.snapshotIntervalEntries)
        var keep = false
        do {
            let result = try await run(cluster)
            keep = !result.violations.isEmpty
            await cluster.shutdown(keep: keep)
            if keep { log("violations: cluster directory kept at \(cluster.directory)") }
            return result
        } catch {
            // A node that no longer answers: keep its threads' stacks before stopping it.
            for node in cluster.nodes where node.isRunning {
                if await cluster.status(node) == nil, let path = await node.dumpStacks() { log("stacks of silent \(node.name): \(path)") }
            }
            await cluster.shutdown(keep: true)
            log("failed: cluster directory kept at \(cluster.directory)")
            throw error
        }
    }

    private func run(_ cluster: FaultCluster) async throws -> Result {
        let started = ContinuousClock.now
        var timeline: [String] = []
        func note(_ line: String) {
            let stamped = String(format: "%8.3f s  ", (ContinuousClock.now - started).faultSeconds) + line
            timeline.append(stamped)
            log(stamped)
        }
        try await cluster.start()
        note("cluster up, leader \(try await cluster.waitForLeader(within: .seconds(30)).name)")
        let workload = Workload(cluster: cluster)
        workload.start(appenders: plan.appenders, readers: plan.readers)
        var windows: [CutOff] = []
        var unclean: [String] = []

        for kill in 0..<plan.leaderKills {
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            try await Task.sleep(for: .milliseconds(300))  // let writes flow under this leader
            await leader.kill(SIGKILL)
            let survivors = cluster.nodes.filter { $0 !== leader }
            let next = try await cluster.waitForLeader(among: survivors, within: .seconds(30))
            note("kill \(kill + 1)/\(plan.leaderKills): SIGKILL \(leader.name), new leader \(next.name)")
            try leader.launch()
        }

        for round in 0..<plan.leaderStops {
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            try await Task.sleep(for: .milliseconds(300))
            let ended = await leader.kill(SIGTERM) ?? "not running"
            if ended != "exit 0" { unclean.append("\(leader.name) stopped by SIGTERM as leader under load: \(ended)") }
            let next = try await cluster.waitForLeader(among: cluster.nodes.filter { $0 !== leader }, within: .seconds(30))
            note("stop \(round + 1)/\(plan.leaderStops): SIGTERM \(leader.name) (\(ended)), new leader \(next.name)")
            try leader.launch()
        }

        for round in 0..<plan.isolations {
            try await cluster.waitForConvergenceOrLeader()
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            let from = cluster.clock.now()
            cluster.isolate([leader.name])
            let others = cluster.nodes.filter { $0 !== leader }
            let next = try await cluster.waitForLeader(among: others, within: .seconds(30))
            try await Task.sleep(for: plan.isolationLength)
            windows.append(CutOff(node: leader.name, from: from, to: cluster.clock.now()))
            cluster.healAll()
            note("isolation \(round + 1)/\(plan.isolations): \(leader.name) cut off, \(next.name) elected; healed")
        }

        for round in 0..<plan.pauses {
            try await cluster.waitForConvergenceOrLeader()
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            let from = cluster.clock.now()
            let pausedAt = ContinuousClock.now
            leader.pause()
            // The others must elect a leader while it sleeps (the pause outlasts the timeout).
            let during = try await cluster.waitForLeader(among: cluster.nodes.filter { $0 !== leader }, within: .seconds(30))
            try await Task.sleep(until: pausedAt + plan.pauseLength)
            windows.append(CutOff(node: leader.name, from: from, to: cluster.clock.now()))
            leader.resume()
            let next = try await cluster.waitForLeader(within: .seconds(30))
            note("""
                pause \(round + 1)/\(plan.pauses): SIGSTOP \(leader.name) for \(plan.pauseLength), \(during.name) elected \
                meanwhile; SIGCONT; leader \(next.name)
                """)
        }

        var snapshotsInstalled = 0
        for round in 0..<plan.followerCatchUps {
            guard let interval = plan.snapshotIntervalEntries else {
                throw HarnessError("the follower catch-up scenario needs snapshotIntervalEntries")
            }
            try await cluster.waitForCatchUp(within: .seconds(60))
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            let followers = cluster.nodes.filter { $0 !== leader }
            let follower = followers[round % followers.count]
            let installedBefore = follower.logLines(containing: "Raft snapshot received whole")
            guard let cutAt = await cluster.status(follower)?.appliedIndex else { throw HarnessError("\(follower.name) does not answer") }
            let from = cluster.clock.now()
            cluster.isolate([follower.name])
            // The leader snapshots once it has applied `interval` entries past its last
            // snapshot, and drops the log before it; two intervals past the follower's last
            // entry, that entry is surely gone from the leader's log.
            let target = cutAt + 2 * UInt64(interval) + 1
            let deadline = ContinuousClock.now + .seconds(120)
            var reached: UInt64 = 0
            while ContinuousClock.now < deadline {
                if let leader = await cluster.leader(), let status = await cluster.status(leader) { reached = status.appliedIndex }
                if reached >= target { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            guard reached >= target else { throw HarnessError("the leader applied only \(reached) of \(target) while \(follower.name) was cut off") }
            windows.append(CutOff(node: follower.name, from: from, to: cluster.clock.now()))
            cluster.healAll()
            try await cluster.waitForCatchUp([follower], within: .seconds(60))
            let installed = follower.logLines(containing: "Raft snapshot received whole") - installedBefore
            snapshotsInstalled += installed
            note("""
                catch-up \(round + 1)/\(plan.followerCatchUps): \(follower.name) cut off at applied index \(cutAt) until the \
                leader applied \(reached); healed; \(installed) streamed snapshot(s) installed
                """)
        }

        var membersJoined = 0
        for round in 0..<plan.membershipChanges {
            try await cluster.waitForConvergenceOrLeader()
            let via = cluster.nodes[round % cluster.nodes.count]
            let name = "j\(round + 1)"
            let joined = try await cluster.join(name: name, via: via)
            membersJoined += 1
            // The new member must catch up and take part, while the clients write.
            try await cluster.waitForCatchUp(within: .seconds(60))
            try await Task.sleep(for: .seconds(1))
            let asked = cluster.nodes.filter { $0 !== joined }[(round + 1) % 3]
            try await cluster.leave(joined, via: asked)
            try await cluster.waitForConvergenceOrLeader()
            note("membership \(round + 1)/\(plan.membershipChanges): \(name) joined via \(via.name), converged, left via \(asked.name)")
        }

        for round in 0..<plan.fullRestarts {
            try await Task.sleep(for: .milliseconds(500))
            for node in cluster.nodes { await node.kill(SIGKILL) }
            for node in cluster.nodes { try node.launch() }
            let leader = try await cluster.waitForLeader(within: .seconds(60))
            try await Task.sleep(for: .milliseconds(500))
            note("full restart \(round + 1)/\(plan.fullRestarts): all SIGKILLed and restarted; leader \(leader.name)")
        }

        let stuck = await workload.stop()
        if stuck > 0 { note("\(stuck) client call(s) had not returned \(workload.callTimeout) + 10 s after the stop; recorded as indeterminate") }
        cluster.healAll()
        try await cluster.waitForConvergence(within: .seconds(60))
        note("workload stopped, cluster converged")
        // The logs are read from the data directories with the servers stopped: nothing moves.
        // A graceful stop must end with exit 0; anything else (a crash while stopping) is kept.
        for node in cluster.nodes {
            if let ended = await node.kill(SIGTERM), ended != "exit 0" { unclean.append("\(node.name) stopped by SIGTERM: \(ended)") }
        }
        for line in unclean { note(line) }
        let logs = try cluster.finalLogs()
        let history = workload.history
        let report = Checker().check(history: history, logs: logs, leaders: cluster.leaderSamples)
        let minority = Checker.minorityAcknowledgements(history, windows).map(\.description)
        note(report.summary)
        return Result(
            report: report, minorityAcknowledgements: minority, elapsed: ContinuousClock.now - started, timeline: timeline,
            snapshotsInstalled: snapshotsInstalled, membersJoined: membersJoined, uncleanStops: unclean)
    }
}

extension FaultCluster {
    /// Before the next fault: every node up and a leader known (a catching-up node is fine).
    func waitForConvergenceOrLeader() async throws {
        _ = try await waitForLeader(within: .seconds(30))
        try await Task.sleep(for: .milliseconds(300))
    }
}
