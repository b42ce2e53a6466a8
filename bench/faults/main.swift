// lineage-bench-faults: failover time and the fault suite's long form, against real
// `lineage-server run` child processes (taken from this executable's build folder).
//
//   lineage-bench-faults failover [KILLS] [--proxied]
//       KILLS times (default 20): wait until the 3-node cluster has converged, SIGKILL the
//       leader, and at once keep appending through both survivors (one client each, forwarded
//       by a follower); the failover time is from the SIGKILL to the first acknowledged append
//       invoked after it. Then the killed node restarts and catches up. Prints p50/p99/max of
//       that time and of "a new leader is visible in the survivors' metrics", and runs the
//       checker over every append made. --proxied routes peer links through the suite's
//       proxies (in pass mode); the default dials peers directly.
//   lineage-bench-faults suite [short|long|KILLS] [--skip-isolation] [--skip-pause]
//       The fault suite (FaultSuite in Tests/Helpers/FaultHarness): long = 100 leader kills,
//       20 leader stops (SIGTERM under load), 5 isolations, 5 pauses, 3 follower catch-ups by snapshot, 2 membership changes (join and
//       leave of a fourth server), 3 full restarts, every log compacted every 200 entries.
//       Exits 1 on any violation. --isolations N, --pauses N, --restarts N, --catchups N,
//       --stops N (SIGTERM of the leader under load; must exit 0),
//       --memberships N, --snapshot-interval N set those (for focused runs).
//
// Build both products in the same configuration, e.g.
//   swift build -c release --product lineage-server && swift build -c release --product lineage-bench-faults
//   .build/release/lineage-bench-faults failover 20
import FaultCheck
import FaultHarness
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Prints and flushes at once: progress shows while a long run goes.
func say(_ line: String) {
    print(line)
    fflush(nil)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
let server = buildDirectory.appendingPathComponent("lineage-server").path
guard FileManager.default.isExecutableFile(atPath: server) else {
    say("no lineage-server next to this executable in \(buildDirectory.path): build it in the same configuration")
    exit(2)
}

func percentile(_ sorted: [Duration], _ fraction: Double) -> Duration {
    precondition(!sorted.isEmpty)
    let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

func milliseconds(_ duration: Duration) -> String { String(format: "%.0f ms", duration.faultSeconds * 1000) }

func summary(_ name: String, _ samples: [Duration]) -> String {
    let sorted = samples.sorted()
    let mean = sorted.reduce(Duration.zero, +) / sorted.count
    return "\(name): n=\(sorted.count) p50 \(milliseconds(percentile(sorted, 0.5))) p99 \(milliseconds(percentile(sorted, 0.99))) "
        + "max \(milliseconds(sorted.last!)) mean \(milliseconds(mean)) min \(milliseconds(sorted.first!))"
}

func failover(kills: Int, proxied: Bool) async throws -> Int32 {
    let clock = RunClock()
    let cluster = try FaultCluster(executable: server, clock: clock, proxied: proxied)
    let workload = Workload(cluster: cluster, callTimeout: .seconds(10))
    var firstWrite: [Duration] = []
    var newLeader: [Duration] = []
    do {
        try await cluster.start()
        for kill in 1...kills {
            try await cluster.waitForConvergence(within: .seconds(60))
            let leader = try await cluster.waitForLeader(within: .seconds(30))
            let survivors = cluster.nodes.filter { $0 !== leader }
            let killedAt = ContinuousClock.now
            await leader.kill(SIGKILL)
            // Both survivors take appends until one is acknowledged; a follower forwards to
            // whichever node leads, so this measures the cluster, not client-side discovery.
            async let written: ContinuousClock.Instant = withThrowingTaskGroup(of: ContinuousClock.Instant.self) { group in
                for (index, node) in survivors.enumerated() {
                    group.addTask {
                        while true {
                            try Task.checkCancellation()
                            if await workload.append(client: index, on: node) == .ok { return ContinuousClock.now }
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
                let first = try await group.next()!
                group.cancelAll()
                return first
            }
            let elected = try await cluster.waitForLeader(among: survivors, within: .seconds(30))
            let electedAt = ContinuousClock.now
            let acknowledgedAt = try await written
            firstWrite.append(acknowledgedAt - killedAt)
            newLeader.append(electedAt - killedAt)
            say("kill \(kill)/\(kills): SIGKILL \(leader.name); \(elected.name) leads after \(milliseconds(electedAt - killedAt)), "
                + "first acknowledged write after \(milliseconds(acknowledgedAt - killedAt))")
            try leader.launch()
        }
        try await cluster.waitForConvergence(within: .seconds(60))
        for node in cluster.nodes { await node.kill(SIGTERM) }
        let report = Checker().check(history: workload.history, logs: try cluster.finalLogs(), leaders: cluster.leaderSamples)
        say(summary("SIGKILL of the leader → first acknowledged write", firstWrite))
        say(summary("SIGKILL of the leader → new leader seen in metrics (20 ms polling)", newLeader))
        say("checker: \(report.summary)")
        for violation in report.violations { say("  \(violation)") }
        await cluster.shutdown(keep: !report.violations.isEmpty)
        return report.violations.isEmpty ? 0 : 1
    } catch {
        say("failed: \(error); cluster directory kept at \(cluster.directory)")
        await cluster.shutdown(keep: true)
        return 2
    }
}

func suite(_ plan: FaultSuite.Plan) async throws -> Int32 {
    let result = try await FaultSuite(executable: server, plan: plan) { say($0) }.run()
    say("elapsed \(milliseconds(result.elapsed)); \(result.report.summary); streamed snapshots installed by cut-off followers: "
        + "\(result.snapshotsInstalled); members joined and removed: \(result.membersJoined)")
    for violation in result.violations { say("  \(violation)") }
    for stop in result.uncleanStops { say("  unclean stop: \(stop)") }
    return result.violations.isEmpty && result.uncleanStops.isEmpty ? 0 : 1
}

let status: Int32
switch arguments.first {
case "failover":
    let kills = arguments.dropFirst().compactMap { Int($0) }.first ?? 20
    status = try await failover(kills: kills, proxied: arguments.contains("--proxied"))
case "suite":
    let which = arguments.dropFirst().first ?? "long"
    var plan: FaultSuite.Plan = which == "short" ? .short : .long
    if let kills = Int(which) { plan.leaderKills = kills }
    if arguments.contains("--skip-isolation") { plan.isolations = 0 }
    if arguments.contains("--skip-pause") { plan.pauses = 0 }
    // Explicit counts for focused runs, e.g. `suite 0 --isolations 30 --pauses 0 --restarts 0`.
    func count(_ flag: String) -> Int? {
        guard let at = arguments.firstIndex(of: flag), at + 1 < arguments.count else { return nil }
        return Int(arguments[at + 1])
    }
    if let n = count("--isolations") { plan.isolations = n }
    if let n = count("--pauses") { plan.pauses = n }
    if let n = count("--restarts") { plan.fullRestarts = n }
    if let n = count("--stops") { plan.leaderStops = n }
    if let n = count("--catchups") { plan.followerCatchUps = n }
    if let n = count("--memberships") { plan.membershipChanges = n }
    if let n = count("--snapshot-interval") { plan.snapshotIntervalEntries = n }
    status = try await suite(plan)
default:
    say("usage: lineage-bench-faults failover [KILLS] [--proxied] | suite [short|long|KILLS] [--skip-isolation] [--skip-pause] "
        + "[--isolations N] [--pauses N] [--restarts N] [--stops N] [--catchups N] [--memberships N] [--snapshot-interval N]")
    status = 2
}
exit(status)
