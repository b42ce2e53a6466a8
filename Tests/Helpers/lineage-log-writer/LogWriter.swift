// Test helper: drives the real LMDB store and log driver with a stream of events, printing
// `ack <request-id> <index>` for each one the moment it is acknowledged. Crash tests SIGKILL it
// mid-write and then check that every acknowledged event is in the log exactly once.
//
// Usage: lineage-log-writer DATA_DIR [WRITERS]
import Consensus
import Foundation
import IdentityModel
import LogStore
import Server
import SPIFFE

/// The events the writer proposes: registration entries and join tokens, each unique, so the
/// projection tables grow with every acknowledgement.
enum SampleEvents {
    static func next(number: UInt64, using random: inout some RandomNumberGenerator) throws -> EventEnvelope {
        let now = Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000))
        let unique = RequestID.random(using: &random)
        let event: Event
        if number % 2 == 0 {
            let token = try SHA256Digest(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) })
            event = .joinTokenCreated(JoinTokenCreated(
                token: JoinToken(tokenSHA256: token, expiresAt: Timestamp(secondsSinceEpoch: 4_000_000_000))))
        } else {
            let entry = RegistrationEntry(
                id: try RegistrationEntryID("\(unique)"),
                spiffeID: try SPIFFEID(parsing: "spiffe://example.org/workload/\(unique)"),
                parentID: try SPIFFEID(parsing: "spiffe://example.org/spire/agent/join_token/writer"),
                selectors: [try Selector(type: "unix", value: "uid:\(number % 1000)")],
                createdAt: now)
            event = .registrationEntryCreated(RegistrationEntryCreated(entry: entry))
        }
        return EventEnvelope(issuedAt: now, actor: .localAdmin(uid: 0), requestID: unique, event: event)
    }
}

@main
struct LogWriter {
    static func main() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 2 else {
            FileHandle.standardError.write(Data("usage: lineage-log-writer DATA_DIR [WRITERS]\n".utf8))
            exit(2)
        }
        let writers = arguments.count > 2 ? Int(arguments[2]) ?? 4 : 4
        let path = DataDirectory.logStore(arguments[1])
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let store = try LogStore(directory: path)
        let applier = ProjectionApplier(state: try ProjectionApplier.load(from: store), view: IdentityStateView())
        let driver = try LogDriver(
            store: store, applier: applier,
            settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(2)) }
            for _ in 0..<writers {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    var number: UInt64 = UInt64.random(in: 0...1)
                    while true {
                        number += 1
                        let envelope = try SampleEvents.next(number: number, using: &random)
                        let requestID = envelope.requestID
                        let applied = try await driver.propose(try EventCodec.encode(envelope))
                        // One unbuffered write(2) per line: visible at once, atomic on a pipe.
                        FileHandle.standardOutput.write(Data("ack \(requestID) \(applied.index)\n".utf8))
                    }
                }
            }
            try await group.next()
        }
    }
}
