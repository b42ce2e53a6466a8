import Attestation
import Testing

@Suite("/proc parsing and unix selectors")
struct UnixAttestationTests {
    static func stat(pid: Int32, comm: String, startTime: UInt64) -> String {
        // Fields 3…21 are filler; field 22 is the start time.
        let middle = (3...21).map { "\($0)" }.joined(separator: " ")
        return "\(pid) (\(comm)) \(middle) \(startTime) 3133440 382\n"
    }

    @Test("start time is field 22, counted from the last parenthesis",
          arguments: ["cat", "a b", "a) (b", ")", "((", "x) 1 2 3 (y"])
    func statParsing(comm: String) throws {
        let parsed = try ProcStat(parsing: Self.stat(pid: 4242, comm: comm, startTime: 987_654))
        #expect(parsed.pid == 4242)
        #expect(parsed.startTime == 987_654)
    }

    @Test("a real stat line from this kernel")
    func realStat() throws {
        let line = "17082 (cat) R 17080 17080 1304 0 -1 4194304 123 0 0 0 0 0 0 0 20 0 1 0 193420 3133440 382 18446744073709551615"
        #expect(try ProcStat(parsing: line).startTime == 193_420)
    }

    @Test("malformed stat lines are errors, not crashes",
          arguments: ["", "12 cat R", "x (cat) R", "12 (cat) R 1 2", String(repeating: "9", count: 70_000)])
    func badStat(text: String) {
        #expect(throws: AttestationError(.malformedProcFile, "")) { try ProcStat(parsing: text) }
    }

    @Test("status: effective IDs and supplementary groups")
    func status() throws {
        let text = "Name:\tenvoy\nUid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\nGroups:\t27 100 27 \nVmRSS:\t1 kB\n"
        let parsed = try ProcStatus(parsing: text)
        #expect(parsed.effectiveUID == 1001 && parsed.effectiveGID == 2001)
        #expect(parsed.groups == [27, 100, 27])
        let empty = try ProcStatus(parsing: "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n")
        #expect(empty.groups.isEmpty)
    }

    @Test("malformed status files are errors",
          arguments: ["", "Uid:\t1\t2\nGid:\t1\t2\t3\t4\n", "Uid:\ta\tb\tc\td\nGid:\t1\t2\t3\t4\n"])
    func badStatus(text: String) {
        #expect(throws: AttestationError(.malformedProcFile, "")) { try ProcStatus(parsing: text) }
    }

    @Test("selectors are SPIRE's, from effective IDs, in a stable order")
    func selectors() throws {
        let status = try ProcStatus(parsing: "Uid:\t1000\t1001\t1001\t1001\nGid:\t50\t51\t51\t51\nGroups:\t27 4\n")
        let facts = UnixProcessFacts(
            status: status, userName: "web", groupName: "webgrp", supplementaryGroupNames: [27: "sudo"],
            executablePath: "/usr/bin/envoy", executableSHA256: "ab12")
        let values = UnixSelectors.selectors(for: facts).map { "\($0.type):\($0.value)" }
        #expect(values == [
            "unix:uid:1001", "unix:user:web", "unix:gid:51", "unix:group:webgrp",
            "unix:supplementary_gid:4", "unix:supplementary_gid:27", "unix:supplementary_group:sudo",
            "unix:path:/usr/bin/envoy", "unix:sha256:ab12",
        ])
        let bare = UnixSelectors.selectors(for: UnixProcessFacts(status: status)).map(\.value)
        #expect(bare == ["uid:1001", "gid:51", "supplementary_gid:4", "supplementary_gid:27"])
    }
}
