import Synchronization

/// The server's Prometheus metrics, rendered in the text exposition format (0.0.4). Counters
/// and one latency histogram kept under a lock; gauges (log indexes, entries, agents) are read
/// from the log's state at scrape time.
public final class ServerMetrics: Sendable {
    /// Upper bounds of the commit-latency buckets, in seconds.
    static let latencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]

    private struct Counters {
        var attestations: [String: UInt64] = [:]  // "type,result"
        var svidsSigned: [String: UInt64] = [:]  // "x509" | "jwt"
        var commitLatencyBuckets = [UInt64](repeating: 0, count: ServerMetrics.latencyBuckets.count)
        var commitLatencyCount: UInt64 = 0
        var commitLatencySum: Double = 0
    }

    private let counters = Mutex(Counters())

    public init() {}

    func attestation(type: String, succeeded: Bool) {
        counters.withLock { $0.attestations["\(type),\(succeeded ? "ok" : "refused")", default: 0] += 1 }
    }

    func svidSigned(_ kind: String) {
        counters.withLock { $0.svidsSigned[kind, default: 0] += 1 }
    }

    func commitLatency(_ duration: Duration) {
        let seconds = duration.inSeconds
        counters.withLock { counters in
            for (index, bound) in Self.latencyBuckets.enumerated() where seconds <= bound {
                counters.commitLatencyBuckets[index] += 1
            }
            counters.commitLatencyCount += 1
            counters.commitLatencySum += seconds
        }
    }

    /// The exposition text, with the log's current gauges.
    func render(
        appliedIndex: UInt64, commitIndex: UInt64, entries: Int, agents: Int,
        raft: (term: UInt64, leader: UInt64, isLeader: Bool)
    ) -> String {
        let snapshot = counters.withLock { $0 }
        var lines: [String] = []
        lines += ["# HELP lineage_attestations_total Node attestations by attestor and result.",
                  "# TYPE lineage_attestations_total counter"]
        for key in snapshot.attestations.keys.sorted() {
            let parts = key.split(separator: ",")
            lines.append("lineage_attestations_total{type=\"\(parts[0])\",result=\"\(parts[1])\"} \(snapshot.attestations[key]!)")
        }
        lines += ["# HELP lineage_svids_signed_total SVIDs signed by this server.", "# TYPE lineage_svids_signed_total counter"]
        for kind in snapshot.svidsSigned.keys.sorted() {
            lines.append("lineage_svids_signed_total{kind=\"\(kind)\"} \(snapshot.svidsSigned[kind]!)")
        }
        lines += ["# HELP lineage_log_applied_index The last log index applied to the projections.",
                  "# TYPE lineage_log_applied_index gauge", "lineage_log_applied_index \(appliedIndex)",
                  "# HELP lineage_log_commit_index The last committed log index.",
                  "# TYPE lineage_log_commit_index gauge", "lineage_log_commit_index \(commitIndex)",
                  "# HELP lineage_raft_term The Raft term this server is in.",
                  "# TYPE lineage_raft_term gauge", "lineage_raft_term \(raft.term)",
                  "# HELP lineage_raft_leader_id Node ID of the leader this server knows of (0: none).",
                  "# TYPE lineage_raft_leader_id gauge", "lineage_raft_leader_id \(raft.leader)",
                  "# HELP lineage_raft_is_leader 1 while this server leads.",
                  "# TYPE lineage_raft_is_leader gauge", "lineage_raft_is_leader \(raft.isLeader ? 1 : 0)",
                  "# HELP lineage_entries Registration entries.", "# TYPE lineage_entries gauge", "lineage_entries \(entries)",
                  "# HELP lineage_agents Attested agents.", "# TYPE lineage_agents gauge", "lineage_agents \(agents)",
                  "# HELP lineage_log_commit_seconds Time from proposing an event to its durable apply.",
                  "# TYPE lineage_log_commit_seconds histogram"]
        for (index, bound) in Self.latencyBuckets.enumerated() {
            lines.append("lineage_log_commit_seconds_bucket{le=\"\(bound)\"} \(snapshot.commitLatencyBuckets[index])")
        }
        lines.append("lineage_log_commit_seconds_bucket{le=\"+Inf\"} \(snapshot.commitLatencyCount)")
        lines.append("lineage_log_commit_seconds_sum \(snapshot.commitLatencySum)")
        lines.append("lineage_log_commit_seconds_count \(snapshot.commitLatencyCount)")
        return lines.joined(separator: "\n") + "\n"
    }
}
