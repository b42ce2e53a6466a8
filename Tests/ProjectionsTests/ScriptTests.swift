import Foundation
import IdentityModel
import Projections
import SPIFFE
import Testing

/// Scenario scripts in etcd's datadriven style: `Scripts/*.txt` hold commands, each followed by
/// `----` and the output the projection must produce. Run with `REWRITE=1` to regenerate the
/// expected output, and commit the diff only if you understand it.
///
/// Commands (times are seconds after the fixtures' epoch, default 0):
/// - `attest <agent-id> [selector…] [tofu]`, `ban <agent-id>`, `evict <agent-id>`
/// - `entry <entry-id> <spiffe-id> <parent-id> <selector>…`, `delete <entry-id> <revision>`
/// - `token <seed> <expires-s>`, `consume <seed> <agent-id> [at=<s>]`
/// - `authorized <agent-id>` prints the authorized entry IDs; `digest` prints the state digest.
@Suite("Scenario scripts")
struct ScriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

    static var scripts: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".txt") }.sorted()
    }

    @Test("each script produces its recorded output", arguments: scripts)
    func run(script: String) throws {
        let url = Self.directory.appendingPathComponent(script)
        let text = try String(contentsOf: url, encoding: .utf8)
        var h = Harness()
        var rewritten: [String] = []
        var lines = text.components(separatedBy: "\n")[...]
        while let line = lines.popFirst() {
            guard !line.isEmpty, !line.hasPrefix("#") else {
                rewritten.append(line)
                continue
            }
            #expect(lines.popFirst() == "----", "\(script): command \(line) lacks ----")
            var expected: [String] = []
            while let next = lines.first, !next.isEmpty {
                expected.append(next)
                lines.removeFirst()
            }
            let actual = Self.execute(line, on: &h)
            #expect(actual == expected, "\(script): \(line)")
            rewritten += [line, "----"] + actual
        }
        if ProcessInfo.processInfo.environment["REWRITE"] == "1" {
            try rewritten.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        }
    }

    static func execute(_ line: String, on h: inout Harness) -> [String] {
        let words = line.split(separator: " ").map(String.init)
        let arguments: [String] = words.dropFirst().filter { !$0.hasPrefix("at=") }
        let at = words.first { $0.hasPrefix("at=") }.flatMap { Int64($0.dropFirst(3)) }.map(F.at) ?? F.t0
        let event: Event
        switch words[0] {
        case "attest":
            let tofu = arguments.last == "tofu"
            let selectors = arguments.dropFirst().filter { $0 != "tofu" }.map(F.selector)
            event = F.attested(F.id(arguments[0]), selectors: selectors, canReattest: !tofu)
        case "ban": event = .agentBanned(.init(agentID: F.id(arguments[0])))
        case "evict": event = .agentEvicted(.init(agentID: F.id(arguments[0])))
        case "entry":
            event = .registrationEntryCreated(.init(entry: F.entry(
                arguments[0], spiffeID: arguments[1], parent: F.id(arguments[2]),
                selectors: arguments.dropFirst(3).map(F.selector))))
        case "delete":
            event = .registrationEntryDeleted(.init(entryID: F.entryID(arguments[0]), revisionNumber: Int64(arguments[1])!))
        case "token":
            event = .joinTokenCreated(.init(token: JoinToken(
                tokenSHA256: F.digest(UInt8(arguments[0])!), expiresAt: F.at(Int64(arguments[1])!))))
        case "consume":
            event = .joinTokenConsumed(.init(tokenSHA256: F.digest(UInt8(arguments[0])!), agentID: F.id(arguments[1])))
        case "authorized":
            let ids = h.state.authorizedEntries(for: F.id(arguments[0])).map(\.id.rawValue)
            return [ids.isEmpty ? "(none)" : ids.joined(separator: " ")]
        case "digest":
            return [String(h.state.digest(), radix: 16)]
        default:
            return ["unknown command \(words[0])"]
        }
        switch h.apply(event, at: at) {
        case .applied(let changes): return ["applied: \(changes.count) change(s)"]
        case .rejected(let rejection): return ["rejected: \(rejection)"]
        }
    }
}
