/// The "nothing lost" checker for an append-only log (RELIABILITY.md §1.4 and §5): no model
/// search is needed, because the final log fixes the order of everything that happened.
///
/// Checked, given the history, every server's final committed log and leadership samples:
/// 1. the servers' logs agree wherever they overlap (same term and record at every index) and
///    each is contiguous;
/// 2. every acknowledged append is in every server's log exactly once; an indeterminate one
///    at most once; a definitely failed one not at all; no key appears that no client wrote;
/// 3. real-time order: if append A was acknowledged before append B was invoked, A's index is
///    below B's;
/// 4. every read returned a prefix of the log (no holes, nothing the log lacks) and includes
///    what its consistency level promises (the same server's earlier acknowledged appends, or
///    every earlier acknowledged append when reads are linearizable);
/// 5. every stream's output is a prefix of the log's key sequence, in order;
/// 6. no two leaders in one term, as far as the samples show.
public struct Checker: Sendable {
    /// What a read must include of the appends acknowledged before it was invoked.
    public enum ReadConsistency: Sendable {
        /// Those acknowledged by the server the read went to (read-your-writes).
        case sameServer
        /// All of them (ReadIndex / leader reads).
        case linearizable
    }

    public var readConsistency: ReadConsistency

    public init(readConsistency: ReadConsistency = .sameServer) {
        self.readConsistency = readConsistency
    }

    public struct Violation: Sendable, Hashable, CustomStringConvertible {
        public enum Rule: String, Sendable, Hashable, CaseIterable {
            case logsDiverge, logNotContiguous, acknowledgedLost, duplicated, failedPresent, phantom, stateMismatch
            case realTimeOrder, readNotPrefix, readMissesAcknowledged, streamNotPrefix, twoLeadersInTerm, minorityAcknowledged
        }

        public var rule: Rule
        public var detail: String

        public var description: String { "\(rule.rawValue): \(detail)" }
    }

    public struct Report: Sendable {
        public var violations: [Violation]
        public var acknowledged = 0
        public var failed = 0
        public var indeterminate = 0
        /// Indeterminate appends found in the log (they committed after all).
        public var indeterminatePresent = 0
        public var reads = 0
        public var streams = 0
        public var logLength = 0
        public var termsWithLeader = 0

        public var summary: String {
            """
            appends: \(acknowledged) acknowledged, \(failed) failed, \(indeterminate) indeterminate \
            (\(indeterminatePresent) of them committed); reads: \(reads); streams: \(streams); \
            log: \(logLength) records; terms with a known leader: \(termsWithLeader); \
            violations: \(violations.count)
            """
        }
    }

    /// At most this many violations of one rule are reported (the count is still exact).
    static let detailsPerRuleMax = 20

    public func check(history: [ClientOperation], logs: [ServerLog], leaders: [LeaderObservation]) -> Report {
        var violations: [Violation] = []
        var perRule: [Violation.Rule: Int] = [:]
        func report(_ rule: Violation.Rule, _ detail: @autoclosure () -> String) {
            perRule[rule, default: 0] += 1
            if perRule[rule]! <= Self.detailsPerRuleMax { violations.append(Violation(rule: rule, detail: detail())) }
        }

        checkLogs(logs, report)
        // The reference log: every index a current member still holds (they agree where they
        // overlap, checked above). Compacted members leave a gap at the front only: the least
        // compacted log covers everything from its first index on (the members have converged).
        // A removed member's log stops early, so it could leave a hole after its end.
        var merged: [UInt64: LogRecord] = [:]
        for log in logs where !log.retired {
            for record in log.records where merged[record.index] == nil { merged[record.index] = record }
        }
        let referenceRecords = merged.keys.sorted().map { merged[$0]! }
        var position: [String: UInt64] = [:]
        var keyOrder: [String] = []
        for record in referenceRecords {
            guard let key = record.key else { continue }
            if position[key] == nil {
                position[key] = record.index
                keyOrder.append(key)
            }
        }
        // Keys no log holds any more but a compacted server's state does: they precede every
        // key of the reference log, in an order no longer known. Position 0 stands for "before
        // all of them", which is all the order checks below need.
        var compactedKeys = Set<String>()
        for log in logs where log.compactedThrough > 0 && !log.retired {
            precondition(log.state != nil, "\(log.server)'s log is compacted: its state's keys are needed")
            for key in log.state! where position[key] == nil && !compactedKeys.contains(key) {
                compactedKeys.insert(key)
                position[key] = 0
            }
        }

        let appends = history.filter { $0.key != nil }
        var counts = Report(violations: [])
        var written: [String: ClientOperation] = [:]
        for operation in appends {
            let key = operation.key!
            precondition(written[key] == nil, "append key \(key) used by two operations: keys must be unique per run")
            written[key] = operation
            switch operation.outcome {
            case .ok: counts.acknowledged += 1
            case .fail: counts.failed += 1
            case .timeout:
                counts.indeterminate += 1
                if position[key] != nil { counts.indeterminatePresent += 1 }
            }
        }

        for log in logs {
            var occurrences: [String: Int] = [:]
            for record in log.records { if let key = record.key { occurrences[key, default: 0] += 1 } }
            if let state = log.state {
                var held: [String: Int] = [:]
                for key in state { held[key, default: 0] += 1 }
                // The state holds what the log applied: every key of the log's records, and
                // nothing a non-compacted log lacks.
                for key in occurrences.keys.sorted() where held[key] == nil {
                    report(.stateMismatch, "\(key) is in \(log.server)'s log but not in its state")
                }
                if log.compactedThrough == 0 {
                    for key in held.keys.sorted() where occurrences[key] == nil {
                        report(.stateMismatch, "\(key) is in \(log.server)'s state but not in its (uncompacted) log")
                    }
                }
                for (key, count) in held.sorted(by: { $0.key < $1.key }) where count > 1 {
                    report(.duplicated, "\(key) is \(count) times in \(log.server)'s state")
                }
                // The compacted prefix is known through the state only.
                for (key, count) in held where occurrences[key] == nil { occurrences[key] = count }
            }
            for (key, count) in occurrences.sorted(by: { $0.key < $1.key }) {
                if count > 1 { report(.duplicated, "\(key) appears \(count) times in \(log.server)'s log") }
                guard let operation = written[key] else {
                    report(.phantom, "\(key) is in \(log.server)'s log but no client appended it")
                    continue
                }
                if operation.outcome == .fail {
                    report(.failedPresent, "\(key) failed definitely at \(operation.server) but is in \(log.server)'s log")
                }
            }
            // A removed member stopped receiving entries: it is checked for agreement only.
            guard !log.retired else { continue }
            for operation in appends where operation.outcome == .ok && occurrences[operation.key!] == nil {
                report(.acknowledgedLost, "\(operation.key!) was acknowledged by \(operation.server) but is not in \(log.server)'s log")
            }
        }

        checkRealTimeOrder(appends, position, report)
        checkReads(history, appends, position, keyOrder, compactedKeys, report)
        counts.reads = history.count { $0.kind == .read && $0.outcome == .ok }
        counts.streams = history.count { $0.kind == .stream }
        counts.termsWithLeader = checkLeaders(leaders, report)
        counts.logLength = Int(referenceRecords.last?.index ?? 0)
        for (rule, count) in perRule.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where count > Self.detailsPerRuleMax {
            violations.append(Violation(rule: rule, detail: "… \(count - Self.detailsPerRuleMax) more of this rule"))
        }
        counts.violations = violations
        return counts
    }

    // MARK: - The rules

    /// Each log contiguous; all logs equal (term and key) at every index they share.
    private func checkLogs(_ logs: [ServerLog], _ report: (Violation.Rule, @autoclosure () -> String) -> Void) {
        var byIndex: [UInt64: (server: String, record: LogRecord)] = [:]
        for log in logs {
            var previous: UInt64?
            for record in log.records {
                if let previous, record.index != previous + 1 {
                    report(.logNotContiguous, "\(log.server)'s log jumps from index \(previous) to \(record.index)")
                }
                previous = record.index
                if let seen = byIndex[record.index] {
                    if seen.record != record {
                        report(.logsDiverge, """
                            index \(record.index): \(seen.server) has term \(seen.record.term) \(seen.record.key ?? "-"), \
                            \(log.server) has term \(record.term) \(record.key ?? "-")
                            """)
                    }
                } else {
                    byIndex[record.index] = (log.server, record)
                }
            }
        }
    }

    /// If A was acknowledged before B was invoked, index(A) < index(B). B ranges over every
    /// append in the log (an indeterminate one too: it took effect after its invocation); A over
    /// acknowledged ones. Sorting A by completion gives, for each B, the largest index among
    /// the As that completed before B began: O(n log n).
    private func checkRealTimeOrder(
        _ appends: [ClientOperation], _ position: [String: UInt64], _ report: (Violation.Rule, @autoclosure () -> String) -> Void
    ) {
        let acknowledged = appends
            .compactMap { op -> (completed: Nanoseconds, index: UInt64, key: String)? in
                guard op.outcome == .ok, let completed = op.completed, let index = position[op.key!] else { return nil }
                return (completed, index, op.key!)
            }
            .sorted { $0.completed < $1.completed }
        var prefixMax: [(index: UInt64, key: String)] = []
        for item in acknowledged {
            if let last = prefixMax.last, last.index > item.index { prefixMax.append(last) } else { prefixMax.append((item.index, item.key)) }
        }
        for operation in appends {
            guard let index = position[operation.key!] else { continue }
            // How many acknowledged appends completed strictly before this one was invoked.
            var low = 0, high = acknowledged.count
            while low < high {
                let middle = (low + high) / 2
                if acknowledged[middle].completed < operation.invoked { low = middle + 1 } else { high = middle }
            }
            guard low > 0 else { continue }
            let latest = prefixMax[low - 1]
            if latest.index > index {
                report(.realTimeOrder, """
                    \(latest.key) (index \(latest.index)) was acknowledged before \(operation.key!) was invoked, \
                    but \(operation.key!) sits at index \(index)
                    """)
            }
        }
    }

    private func checkReads(
        _ history: [ClientOperation], _ appends: [ClientOperation], _ position: [String: UInt64], _ keyOrder: [String],
        _ compactedKeys: Set<String>, _ report: (Violation.Rule, @autoclosure () -> String) -> Void
    ) {
        // rank: a key's place among the suite's keys in the reference log.
        var rank: [String: Int] = [:]
        for (offset, key) in keyOrder.enumerated() { rank[key] = offset }
        let acknowledged = appends.filter { $0.outcome == .ok && $0.completed != nil }
        for read in history where read.kind == .read && read.outcome == .ok {
            let seen = Set(read.observed)
            var highest = -1
            for key in seen where !compactedKeys.contains(key) {
                guard let place = rank[key] else {
                    report(.readNotPrefix, "a read at \(read.server) saw \(key), which the final log does not hold")
                    continue
                }
                highest = max(highest, place)
            }
            // A prefix: every key up to the highest one seen, and so every compacted key (those
            // precede the log's; among themselves their order is no longer known).
            if highest >= 0 {
                let missing = compactedKeys.filter { !seen.contains($0) }.sorted() + keyOrder[0...highest].filter { !seen.contains($0) }
                if !missing.isEmpty {
                    report(.readNotPrefix, """
                        a read at \(read.server) saw \(keyOrder[highest]) but not the earlier \(missing.count) key(s) \
                        \(missing.prefix(3).joined(separator: ", "))
                        """)
                }
            }
            for append in acknowledged where append.completed! < read.invoked && !seen.contains(append.key!) {
                if readConsistency == .linearizable || append.server == read.server {
                    report(.readMissesAcknowledged, """
                        a read at \(read.server) invoked after \(append.key!) was acknowledged by \(append.server) \
                        does not include it
                        """)
                }
            }
        }
        for stream in history where stream.kind == .stream {
            // Compacted keys come first, in an order no longer known; then the log's, in order.
            let head = stream.observed.prefix { compactedKeys.contains($0) }
            let rest = stream.observed.dropFirst(head.count)
            if Set(head).count != head.count || !rest.isEmpty && head.count != compactedKeys.count {
                report(.streamNotPrefix, """
                    a stream from \(stream.server) delivered \(head.count) key(s) of the compacted prefix \
                    (\(Set(head).count) distinct) of \(compactedKeys.count) before the log's
                    """)
                continue
            }
            for (offset, key) in rest.enumerated() where offset >= keyOrder.count || keyOrder[offset] != key {
                report(.streamNotPrefix, """
                    a stream from \(stream.server) delivered \(key) as key #\(head.count + offset + 1); the log has \
                    \(offset < keyOrder.count ? keyOrder[offset] : "nothing") there
                    """)
                break
            }
        }
    }

    /// Returns how many terms had a known leader.
    private func checkLeaders(_ samples: [LeaderObservation], _ report: (Violation.Rule, @autoclosure () -> String) -> Void) -> Int {
        var leaderOf: [UInt64: LeaderObservation] = [:]
        var conflicts: Set<[UInt64]> = []
        for sample in samples.sorted(by: { ($0.at, $0.server) < ($1.at, $1.server) }) where sample.leader != 0 {
            if let first = leaderOf[sample.term] {
                if first.leader != sample.leader, conflicts.insert([sample.term, sample.leader]).inserted {
                    report(.twoLeadersInTerm, """
                        term \(sample.term): \(first.server) saw node \(first.leader) lead, \
                        \(sample.server) saw node \(sample.leader)
                        """)
                }
            } else {
                leaderOf[sample.term] = sample
            }
        }
        return leaderOf.count
    }
}

/// A time window in which `node` was cut off from the others (partitioned or paused), so it
/// could not reach a quorum.
public struct CutOff: Sendable, Hashable {
    public var node: String
    public var from: Nanoseconds
    public var to: Nanoseconds

    public init(node: String, from: Nanoseconds, to: Nanoseconds) {
        self.node = node
        self.from = from
        self.to = to
    }
}

extension Checker {
    /// "The minority side never acknowledges": an append a node was asked for after it was
    /// cut off, and answered OK before it was reconnected, cannot have reached a quorum.
    public static func minorityAcknowledgements(_ history: [ClientOperation], _ windows: [CutOff]) -> [Violation] {
        var found: [Violation] = []
        for window in windows {
            for operation in history where operation.outcome == .ok && operation.key != nil && operation.server == window.node
                && operation.invoked > window.from && (operation.completed ?? .max) < window.to
            {
                found.append(Violation(rule: .minorityAcknowledged, detail: """
                    \(operation.key!) was acknowledged by \(window.node) while it was cut off
                    """))
            }
        }
        return found
    }
}
