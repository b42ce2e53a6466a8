import Consensus
import Foundation
import IdentityModel
import LogStore

/// Reading the identity log as history: the records behind `lineage-server log tail|export|verify`.
/// Everything here opens the store read-only, so it works on a stopped server's data directory
/// and beside a running one.
public enum LogHistory {
    /// One log entry as an auditor sees it.
    public struct Record: Sendable {
        public var index: UInt64
        public var term: UInt64
        /// nil for Raft's own entries (a leader's no-op, a membership change).
        public var envelope: EventEnvelope?
        public var raftKind: EntryKind
        /// The Raft request ID the entry was proposed under (a second copy of one is skipped).
        public var requestID: Consensus.RequestID = .none
    }

    public struct Failure: Error, CustomStringConvertible {
        public let index: UInt64?
        public let description: String
    }

    /// Calls `body` for every entry in `[from, to]` in order; stops early when `body` returns false.
    public static func forEachRecord(
        in store: LogStore, from: UInt64? = nil, to: UInt64? = nil, _ body: (Record) throws -> Bool
    ) throws {
        let first = max(from ?? 0, try store.firstIndex)
        let last = min(to ?? UInt64.max, try store.lastIndex)
        guard first <= last else { return }
        var next = first
        while next <= last {
            let batch = try store.entries(from: next, to: last + 1, maxBytes: 4 << 20)
            for stored in batch {
                guard try body(try record(from: stored)) else { return }
                next = stored.index + 1
            }
        }
    }

    /// Decodes one stored entry; a record that passed its checksum but does not decode is
    /// reported with its index (it would stop a server too).
    public static func record(from stored: StoredEntry) throws -> Record {
        let entry: Entry
        do {
            entry = try Entry(decoding: stored.payload)
        } catch {
            throw Failure(index: stored.index, description: "log index \(stored.index): not a Raft entry: \(error)")
        }
        guard entry.index == stored.index, entry.term == stored.term else {
            throw Failure(index: stored.index, description: "log index \(stored.index): holds entry \(entry.index)/\(entry.term)")
        }
        guard entry.kind == .command, !entry.data.isEmpty else {
            return Record(index: stored.index, term: stored.term, envelope: nil, raftKind: entry.kind)
        }
        do {
            return Record(
                index: stored.index, term: stored.term, envelope: try EventCodec.decode(entry.data), raftKind: entry.kind,
                requestID: entry.requestID)
        } catch {
            throw Failure(index: stored.index, description: "log index \(stored.index): event does not decode: \(error)")
        }
    }

    /// Checks the whole store: LogStore's checksums, index continuity and term order, that
    /// every entry decodes, and that the stored projection tables equal a fresh replay. Returns the problems found, first one first; empty means clean.
    public static func verify(_ store: LogStore) throws -> [String] {
        let report = try store.verify()
        var problems = report.issues.map { "\($0)" }
        guard report.isClean else { return problems }
        var expected = try store.firstIndex
        do {
            try forEachRecord(in: store) { record in
                if record.index != expected { problems.append("log index \(expected) is missing") }
                expected = record.index + 1
                return true
            }
        } catch let failure as Failure {
            problems.append(failure.description)
        }
        guard problems.isEmpty else { return problems }
        if let difference = try compareProjectionsSettled(store) { problems.append(difference) }
        return problems
    }

    /// A running server may apply more while the comparison reads: compare again until the
    /// applied index held still throughout, so only a real difference is reported.
    static func compareProjectionsSettled(_ store: LogStore) throws -> String? {
        var attempts = 0
        while true {
            let before = try store.appliedIndex()
            let difference = try LogReplay.compareStoredProjections(in: store)
            attempts += 1
            let after = try store.appliedIndex()
            if difference == nil || attempts == 5 || before == after { return difference }
        }
    }

    // MARK: - Text and JSON

    /// `index term time type actor` — the `log tail` line.
    public static func textLine(_ record: Record) -> String {
        guard let envelope = record.envelope else {
            return "\(record.index)\t\(record.term)\t-\t(raft \(record.raftKind))"
        }
        return "\(record.index)\t\(record.term)\t\(rfc3339(envelope.issuedAt))\t\(envelope.event.kind)\t\(envelope.actor)"
    }

    /// One JSON Lines record: index, term, time (RFC 3339 UTC), event type, actor, request ID and
    /// the payload's fields.
    public static func jsonLine(_ record: Record) -> String {
        var members: [(String, JSONText)] = [("index", .number(String(record.index))), ("term", .number(String(record.term)))]
        if let envelope = record.envelope {
            members += [
                ("time", .string(rfc3339(envelope.issuedAt))),
                ("type", .string(envelope.event.kind.rawValue)),
                ("actor", .string(envelope.actor.description)),
                ("request_id", .string(envelope.requestID.description)),
                ("payload", payloadJSON(envelope.event)),
            ]
        } else {
            members.append(("type", .string("raft.\(record.raftKind)")))
        }
        return JSONText.object(members).rendered
    }

    public static func rfc3339(_ timestamp: Timestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.millisecondsSinceEpoch) / 1000)
        return date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: true)
            .timeSeparator(.colon).timeZone(separator: .omitted)).replacingOccurrences(of: "+0000", with: "Z")
    }

    /// The event's stored fields, by reflection: every event kind is covered without a
    /// per-kind formatter that could drift from the model. Identifiers print as their text
    /// forms, byte strings as base64, times as RFC 3339.
    static func payloadJSON(_ event: Event) -> JSONText {
        let payload = Mirror(reflecting: event).children.first?.value ?? event
        return json(payload)
    }

    static func json(_ value: Any) -> JSONText {
        switch value {
        case let text as String: return .string(text)
        case let flag as Bool: return .bool(flag)
        case let number as any BinaryInteger: return .number(String(describing: number))
        case let bytes as [UInt8]: return .string(Data(bytes).base64EncodedString())
        case let timestamp as Timestamp: return .string(rfc3339(timestamp))
        default: break
        }
        let mirror = Mirror(reflecting: value)
        if mirror.displayStyle == .optional {
            return mirror.children.first.map { json($0.value) } ?? .null
        }
        if mirror.displayStyle == .collection || mirror.displayStyle == .set {
            return .array(mirror.children.map { json($0.value) })
        }
        if let describable = value as? any CustomStringConvertible { return .string(describable.description) }
        if mirror.displayStyle == .enum, mirror.children.isEmpty { return .string(String(describing: value)) }
        if !mirror.children.isEmpty {
            return .object(mirror.children.map { ($0.label ?? "value", json($0.value)) })
        }
        return .string(String(describing: value))
    }
}

/// A minimal JSON writer (member order kept, strings escaped per RFC 8259).
enum JSONText {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONText])
    case object([(String, JSONText)])

    var rendered: String {
        switch self {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .number(let text): text
        case .string(let text): Self.quote(text)
        case .array(let items): "[" + items.map(\.rendered).joined(separator: ",") + "]"
        case .object(let members): "{" + members.map { Self.quote($0.0) + ":" + $0.1.rendered }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
