// lineage-bench-replay: how fast the identity log rebuilds the projections — SPIRE's events
// cache took ~30 minutes for 500k events; the target here is 1M events in under 2 s.
// Run in release: `swift run -c release lineage-bench-replay [parent-directory] [events]`.
//
// Cases, all over the same log in the same run:
// - read limit: LogStore reads every record (checksum checked), nothing decoded;
// - decode: records → Raft entries → events (LogHistory), nothing folded;
// - fold: the decoded events folded into the in-memory projections, nothing read or decoded;
// - replay: decode and fold into the in-memory projections (`log replay`, `log verify`);
// - replay + tables: the same, plus every table write committed to LMDB in batches of 4096
//   events with fsync — what rebuilding a server's stored projections costs.
import Consensus
import Foundation
import IdentityModel
import LogStore
import Projections
import Server
import SPIFFE

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

/// A mix shaped like a busy trust domain's history: entries created and then updated, agents
/// attested and renewed, join tokens created.
func event(_ number: Int) throws -> EventEnvelope {
    let time = Timestamp(millisecondsSinceEpoch: 1_800_000_000_000 + Int64(number))
    let requestID = try RequestID(bytes: (0..<16).map { UInt8(truncatingIfNeeded: number >> (($0 % 8) * 8)) ^ UInt8($0) })
    let event: Event
    switch number % 10 {
    case 0..<6:
        let entryNumber = number / 10 * 6 + number % 10
        event = .registrationEntryCreated(RegistrationEntryCreated(entry: try entry(entryNumber, revision: 0, time: time)))
    case 6, 7:
        // Updates one of the entries the previous round of ten created (round 0 has none: a
        // rejected update, which replay must handle too).
        let entryNumber = (number / 10 - 1) * 6 + number % 10 - 6
        event = .registrationEntryUpdated(RegistrationEntryUpdated(
            entry: try entry(max(0, entryNumber), revision: 1, time: time)))
    case 8:
        let token = try SHA256Digest(bytes: Array(requestID.bytes) + Array(requestID.bytes))
        event = .joinTokenCreated(JoinTokenCreated(token: JoinToken(tokenSHA256: token, expiresAt: Timestamp(secondsSinceEpoch: 4_000_000_000))))
    default:
        let agentID = try SPIFFEID(parsing: "spiffe://example.org/spire/agent/x509pop/\(number)")
        event = .agentAttested(AgentAttested(
            agentID: agentID, attestationType: "x509pop", selectors: [try Selector(type: "x509pop", value: "subject:cn:node-\(number)")],
            serialNumber: try CertificateSerialNumber(bytes: Array(requestID.bytes)), notAfter: Timestamp(secondsSinceEpoch: 4_000_000_000),
            canReattest: true))
    }
    return EventEnvelope(issuedAt: time, actor: .localAdmin(uid: 0), requestID: requestID, event: event)
}

func entry(_ number: Int, revision: Int64, time: Timestamp) throws -> RegistrationEntry {
    RegistrationEntry(
        id: try RegistrationEntryID("entry-\(number)"),
        spiffeID: try SPIFFEID(parsing: "spiffe://example.org/ns/default/sa/workload-\(number)"),
        parentID: try SPIFFEID(parsing: "spiffe://example.org/spire/agent/x509pop/node-\(number % 500)"),
        selectors: [try Selector(type: "k8s", value: "ns:default"), try Selector(type: "k8s", value: "sa:workload-\(number)")],
        x509SVIDTTLSeconds: revision == 0 ? 3600 : 1800, revisionNumber: revision, createdAt: time)
}

let arguments = CommandLine.arguments
let parent = arguments.count > 1 ? arguments[1] : "/var/tmp"
let eventCount = arguments.count > 2 ? Int(arguments[2]) ?? 1_000_000 : 1_000_000
let root = parent + "/lineage-bench-replay-\(ProcessInfo.processInfo.processIdentifier)"
try FileManager.default.createDirectory(atPath: root + "/log", withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

var options = LogStore.Options()
options.mapSizeBytes = 16 << 30
let clock = ContinuousClock()

// Writing the log (not measured as replay): batches of 4096 Raft entries.
do {
    var writeOptions = options
    writeOptions.syncOnCommit = false
    let store = try LogStore(directory: root + "/log", options: writeOptions)
    var batch = WriteBatch()
    for number in 0..<eventCount {
        let data = try EventCodec.encode(try event(number))
        let entry = Entry(term: 1, index: UInt64(number + 1), data: data)
        batch.append(StoredEntry(index: entry.index, term: 1, payload: entry.encoded()))
        if batch.entries.count == 4096 || number == eventCount - 1 {
            batch.hardState = StoredHardState(term: 1, vote: 1, commit: entry.index)
            try store.commit(batch)
            batch = WriteBatch()
        }
    }
    try store.close()
}

let store = try LogStore(directory: root + "/log", options: options)
var rows: [(String, Int, Duration)] = []

// Read limit: the records only.
var started = clock.now
var read = 0
var next: UInt64 = 1
while next <= UInt64(eventCount) {
    let batch = try store.entries(from: next, to: UInt64(eventCount) + 1, maxBytes: 4 << 20)
    read += batch.count
    next = batch.last!.index + 1
}
rows.append(("read limit: LogStore records, checksums checked", read, clock.now - started))

started = clock.now
var decodedRecords: [LogHistory.Record] = []
decodedRecords.reserveCapacity(eventCount)
try LogHistory.forEachRecord(in: store) { record in
    decodedRecords.append(record)
    return true
}
rows.append(("decode: records → events", decodedRecords.count, clock.now - started))

// The fold alone, over the records decoded above: which of the two halves limits replay.
started = clock.now
var folded = IdentityState()
for record in decodedRecords {
    guard let envelope = record.envelope else { continue }
    _ = Projector.apply(envelope, at: LogIndex(record.index), to: &folded)
}
rows.append(("fold: events → in-memory projections (decoded beforehand)", decodedRecords.count, clock.now - started))
decodedRecords = []

started = clock.now
let replayed = try LogReplay.replay(store, to: .end)
rows.append(("replay into in-memory projections", replayed.appliedEvents + replayed.rejectedEvents, clock.now - started))
let finalState = replayed.state
precondition(folded == finalState, "the fold alone and the replay disagree")
folded = IdentityState()
try store.close()

// Replay + tables: fold and write, one fsync per 4096 events.
let tablesDirectory = root + "/tables"
try FileManager.default.createDirectory(atPath: tablesDirectory, withIntermediateDirectories: true)
let tableStore = try LogStore(directory: tablesDirectory, options: options)
let source = try LogStore(directory: root + "/log", options: .readOnly)
var state = IdentityState()
var writes: [ProjectionWrite] = []
var pendingEvents = 0
var applied = 0
started = clock.now
try LogHistory.forEachRecord(in: source) { record in
    guard let envelope = record.envelope else { return true }
    let outcome = Projector.apply(envelope, at: LogIndex(record.index), to: &state)
    for write in Projector.tableWrites(for: outcome.changes, in: state) {
        switch write {
        case .put(let table, let key, let value): writes.append(.put(table: table, key: key, value: value))
        case .delete(let table, let key): writes.append(.delete(table: table, key: key))
        case .clear(let table): writes.append(.clear(table: table))
        }
    }
    pendingEvents += 1
    applied += 1
    if pendingEvents == 4096 || record.index == UInt64(eventCount) {
        try tableStore.applyBatch(projectionWrites: writes, appliedIndex: record.index)
        writes.removeAll(keepingCapacity: true)
        pendingEvents = 0
    }
    return true
}
rows.append(("replay + projection tables written (fsync per 4096 events)", applied, clock.now - started))
precondition(state == finalState, "the two replays disagree")
try source.close()
try tableStore.close()

print("Replay benchmark: \(eventCount) events (60% entry created, 20% entry updated, 10% join token, 10% agent attested)")
print("final state: \(finalState.entries.count) entries, \(finalState.agents.count) agents, \(finalState.joinTokens.count) join tokens\n")
print("| case | events | seconds | events/s |")
print("|---|---:|---:|---:|")
for (name, count, duration) in rows {
    print("| \(name) | \(count) | \(String(format: "%.2f", seconds(duration))) | \(Int(Double(count) / seconds(duration))) |")
}
