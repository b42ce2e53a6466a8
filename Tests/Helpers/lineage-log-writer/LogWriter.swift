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

/// Applies each event by recording its request ID (and checks it decodes): enough for a
/// durability test, and deterministic like every applier.
struct RequestRecorder: LogApplier {
    mutating func apply(_ data: [UInt8], at index: Consensus.LogIndex) -> (outcome: Bool, writes: [ProjectionWrite]) {
        guard let envelope = try? EventCodec.decode(data) else { return (false, []) }
        let value = (0..<8).map { UInt8(truncatingIfNeeded: index >> (56 - 8 * $0)) }
        return (true, [.put(table: "requests", key: envelope.requestID.bytes, value: value)])
    }

    func snapshotData() -> [UInt8] { [] }

    mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite] {
        [.clear(table: "requests")]
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
        let driver = try LogDriver(
            store: store, applier: RequestRecorder(),
            settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await driver.run() }
            while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(2)) }
            for _ in 0..<writers {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    while true {
                        let requestID = RequestID.random(using: &random)
                        let token = try SHA256Digest(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
                        let envelope = EventEnvelope(
                            issuedAt: Timestamp(millisecondsSinceEpoch: Int64(Date().timeIntervalSince1970 * 1000)),
                            actor: .localAdmin(uid: 0), requestID: requestID,
                            event: .joinTokenCreated(JoinTokenCreated(
                                token: JoinToken(tokenSHA256: token, expiresAt: Timestamp(secondsSinceEpoch: 4_000_000_000)))))
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
