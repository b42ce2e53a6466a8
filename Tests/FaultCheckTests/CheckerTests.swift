import FaultCheck
import Testing

/// The checker against hand-made histories: a correct one passes, and each kind of violation
/// is caught (so the fault suite's "zero violations" can fail).
@Suite("Fault checker")
struct CheckerTests {
    // Three appends a, b, c, sequential on one client; a read; one leader per term.
    static func append(_ key: String, _ invoked: Nanoseconds, _ completed: Nanoseconds?, _ outcome: Outcome = .ok,
                       server: String = "s1", client: Int = 0) -> ClientOperation {
        ClientOperation(kind: .append(key: key), client: client, server: server, invoked: invoked, completed: completed, outcome: outcome)
    }

    static func read(_ keys: [String], _ invoked: Nanoseconds, server: String = "s1") -> ClientOperation {
        ClientOperation(kind: .read, client: 9, server: server, invoked: invoked, completed: invoked + 5, outcome: .ok, observed: keys)
    }

    static func log(_ server: String, _ keys: [String?], term: UInt64 = 1) -> ServerLog {
        ServerLog(server: server, records: keys.enumerated().map { LogRecord(index: UInt64($0.offset + 1), term: term, key: $0.element) })
    }

    static let history = [
        append("a", 0, 10), append("b", 20, 30), append("c", 40, nil, .timeout), append("d", 50, 60, .fail),
        read(["a", "b"], 35), read(["a"], 35, server: "s2"),
        ClientOperation(kind: .stream, client: 8, server: "s3", invoked: 0, completed: 70, outcome: .ok, observed: ["a", "b"]),
    ]
    static let goodLogs = ["s1", "s2", "s3"].map { log($0, [nil, "a", "b", "c"]) }
    static let leaders = [
        LeaderObservation(server: "s1", term: 1, leader: 1, at: 0), LeaderObservation(server: "s2", term: 1, leader: 1, at: 1),
        LeaderObservation(server: "s3", term: 2, leader: 2, at: 5), LeaderObservation(server: "s3", term: 2, leader: 0, at: 6),
    ]

    func rules(_ history: [ClientOperation] = Self.history, _ logs: [ServerLog] = Self.goodLogs,
               _ leaders: [LeaderObservation] = Self.leaders, checker: Checker = Checker()) -> Set<Checker.Violation.Rule> {
        Set(checker.check(history: history, logs: logs, leaders: leaders).violations.map(\.rule))
    }

    @Test("a correct history passes, with its counts")
    func correctHistoryPasses() {
        let report = Checker().check(history: Self.history, logs: Self.goodLogs, leaders: Self.leaders)
        #expect(report.violations.isEmpty, "\(report.violations)")
        #expect(report.acknowledged == 2 && report.failed == 1 && report.indeterminate == 1 && report.indeterminatePresent == 1)
        #expect(report.reads == 2 && report.streams == 1 && report.logLength == 4 && report.termsWithLeader == 2)
        // An indeterminate append may also be absent.
        #expect(rules(Self.history, ["s1", "s2", "s3"].map { Self.log($0, [nil, "a", "b"]) }).isEmpty)
        // A lagging server's log that agrees on the prefix it has is fine.
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "c"]), Self.log("s2", [nil, "a", "b", "c", nil])]).isEmpty)
    }

    @Test("an acknowledged append missing from any server's log is lost")
    func lostAcknowledged() {
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "c"]), Self.log("s2", [nil, "a", "c"])]).contains(.acknowledgedLost))
    }

    @Test("an append twice in a log is a duplicate, acknowledged or not")
    func duplicates() {
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "a"])]) == [.duplicated])
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "c", "c"])]) == [.duplicated])
    }

    @Test("a definitely failed append in the log, and a key no client wrote, are caught")
    func failedAndPhantom() {
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "d"])]).contains(.failedPresent))
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "zz"])]).contains(.phantom))
    }

    @Test("logs that differ at a shared index, or skip an index, are caught")
    func divergence() {
        var other = Self.log("s2", [nil, "a", "b", "c"])
        other.records[0].term = 2
        #expect(rules(Self.history, [Self.log("s1", [nil, "a", "b", "c"]), other]).contains(.logsDiverge))
        var gap = Self.log("s1", [nil, "a", "b", "c"])
        gap.records.remove(at: 1)
        gap.records[0].key = "a"
        #expect(rules(Self.history, [gap]).contains(.logNotContiguous))
    }

    @Test("an append acknowledged before another was invoked must come first")
    func realTimeOrder() {
        // b (invoked at 20) sits before a (acknowledged at 10).
        #expect(rules(Self.history, ["s1", "s2"].map { Self.log($0, [nil, "b", "a", "c"]) }).contains(.realTimeOrder))
        // Concurrent appends may commit in either order.
        let concurrent = [Self.append("a", 0, 30), Self.append("b", 5, 20, client: 1)]
        #expect(rules(concurrent, [Self.log("s1", ["b", "a"])], []).isEmpty)
        #expect(rules(concurrent, [Self.log("s1", ["a", "b"])], []).isEmpty)
        // An indeterminate append that committed still took effect after its invocation.
        let late = [Self.append("a", 0, 10), Self.append("x", 20, nil, .timeout)]
        #expect(rules(late, [Self.log("s1", ["x", "a"])], []) == [.realTimeOrder])
    }

    @Test("reads must be prefixes of the log and include what their consistency promises")
    func reads() {
        // A hole: saw b but not a.
        #expect(rules(Self.history + [Self.read(["b"], 36, server: "s2")]) == [.readNotPrefix])
        // Saw something the log does not hold.
        #expect(rules(Self.history + [Self.read(["a", "q"], 36, server: "s2")]) == [.readNotPrefix])
        // Same server, after b's acknowledgement, without b: stale.
        #expect(rules(Self.history + [Self.read(["a"], 36)]) == [.readMissesAcknowledged])
        // Another server lagging is allowed under sameServer, not under linearizable.
        #expect(rules(checker: Checker(readConsistency: .linearizable)) == [.readMissesAcknowledged])
    }

    @Test("a stream must deliver the log's keys in the log's order")
    func streams() {
        let reordered = ClientOperation(kind: .stream, client: 8, server: "s3", invoked: 0, completed: 70, outcome: .ok, observed: ["b", "a"])
        #expect(rules(Self.history + [reordered]) == [.streamNotPrefix])
        let beyond = ClientOperation(kind: .stream, client: 8, server: "s3", invoked: 0, completed: 70, outcome: .ok, observed: ["a", "b", "c", "e"])
        #expect(rules(Self.history + [beyond]) == [.streamNotPrefix])
    }

    @Test("two servers naming different leaders for one term is caught, once per conflict")
    func twoLeaders() {
        let split = Self.leaders + [LeaderObservation(server: "s1", term: 2, leader: 1, at: 7), LeaderObservation(server: "s1", term: 2, leader: 1, at: 8)]
        let report = Checker().check(history: Self.history, logs: Self.goodLogs, leaders: split)
        #expect(report.violations.map(\.rule) == [.twoLeadersInTerm])
    }

    @Test("an append acknowledged by a node while it was cut off is caught; one asked before the cut is not")
    func minority() {
        let history = [Self.append("a", 0, 12, server: "s1"), Self.append("b", 15, 20, server: "s1"),
                       Self.append("c", 15, 40, server: "s1"), Self.append("e", 16, 18, server: "s2")]
        let found = Checker.minorityAcknowledgements(history, [CutOff(node: "s1", from: 10, to: 30)])
        #expect(found.map(\.detail) == ["b was acknowledged by s1 while it was cut off"])
        #expect(found.allSatisfy { $0.rule == .minorityAcknowledged })
    }

    /// `keys` from index `first` on, the log compacted before it, with `state` as its state.
    static func compacted(_ server: String, from first: UInt64, _ keys: [String?], state: [String], retired: Bool = false) -> ServerLog {
        ServerLog(
            server: server, records: keys.enumerated().map { LogRecord(index: first + UInt64($0.offset), term: 1, key: $0.element) },
            compactedThrough: first - 1, state: state, retired: retired)
    }

    @Test("compacted logs: the state stands for the dropped prefix, and is checked against the log")
    func compactedLogs() {
        // s1 compacted through 2 (a is in its state only), s2 through 3, s3 not at all.
        let logs = [
            Self.compacted("s1", from: 3, ["b", "c"], state: ["a", "b", "c"]),
            Self.compacted("s2", from: 4, ["c"], state: ["a", "b", "c"]),
            ServerLog(server: "s3", records: Self.log("s3", [nil, "a", "b", "c"]).records, state: ["a", "b", "c"]),
        ]
        #expect(rules(Self.history, logs).isEmpty)
        // Every log compacted past a and b: both are known through the states only.
        let allCompacted = ["s1", "s2", "s3"].map { Self.compacted($0, from: 4, ["c"], state: ["a", "b", "c"]) }
        #expect(rules(Self.history, allCompacted).isEmpty)
        // An acknowledged append in neither the log nor the state is lost.
        #expect(rules(Self.history, [Self.compacted("s1", from: 3, ["b", "c"], state: ["b", "c"])]).contains(.acknowledgedLost))
        // Twice in a state is a duplicate.
        #expect(rules(Self.history, [Self.compacted("s1", from: 4, ["c"], state: ["a", "a", "b", "c"])]) == [.duplicated])
        // A state that lacks a key its log applied, or (uncompacted) holds one its log lacks.
        #expect(rules(Self.history, [Self.compacted("s1", from: 3, ["b", "c"], state: ["a", "b"])]) == [.stateMismatch])
        #expect(rules(Self.history, [ServerLog(server: "s1", records: Self.log("s1", [nil, "a", "b"]).records, state: ["a", "b", "c"])])
            == [.stateMismatch])
        // A read that saw a logged key must also have seen every compacted one.
        #expect(rules(Self.history + [Self.read(["c"], 35, server: "s2")], allCompacted) == [.readNotPrefix])
        // Real-time order still binds a compacted key: b (compacted) invoked after e was
        // acknowledged, e at index 4, is out of order.
        let late = [Self.append("a", 0, 10), Self.append("e", 11, 12), Self.append("b", 20, 30)]
        let order = ["s1", "s2"].map { Self.compacted($0, from: 3, ["e"], state: ["a", "b", "e"]) }
        #expect(rules(late, order) == [.realTimeOrder])
    }

    @Test("a removed member's log need only agree with the others")
    func retiredMember() {
        let logs = Self.goodLogs + [Self.compacted("j1", from: 2, ["a"], state: ["a"], retired: true)]
        #expect(rules(Self.history, logs).isEmpty)
        // Its log, ending early, gives no positions: with the members compacted past a and b,
        // j1's "a at index 2" must not make b (compacted, so "before index 4") look out of order.
        let compactedMembers = ["s1", "s2", "s3"].map { Self.compacted($0, from: 4, ["c"], state: ["a", "b", "c"]) }
        #expect(rules(Self.history, compactedMembers + [Self.compacted("j1", from: 2, ["a"], state: ["a"], retired: true)]).isEmpty)
        // It must still agree where it overlaps.
        let diverging = Self.goodLogs + [Self.compacted("j1", from: 2, ["b"], state: ["b"], retired: true)]
        #expect(rules(Self.history, diverging).contains(.logsDiverge))
    }
}
