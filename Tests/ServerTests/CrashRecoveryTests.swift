import Consensus
import Foundation
import IdentityModel
import LogStore
import Server
import Testing

/// A writer process driving the real store and driver loop is killed with SIGKILL in a loop
/// during writes. After every kill: each event it acknowledged is in the log exactly once, and
/// `lineage-server log verify` passes.
@Suite("Crash recovery", .serialized)
struct CrashRecoveryTests {
    static let buildDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    static func executable(_ name: String) throws -> String {
        var directory = buildDirectory
        // The test bundle may sit one level deeper than the executables.
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: "\(name) next to \(buildDirectory.path) (run swift build)"])
    }

    @Test("SIGKILL during writes loses no acknowledged event; log verify passes after each restart")
    func killLoop() async throws {
        let writer = try Self.executable("lineage-log-writer")
        let server = try Self.executable("lineage-server")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        var acknowledged: [String: UInt64] = [:]
        for round in 0..<6 {
            let output = Pipe()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: writer)
            process.arguments = [dataDir, "8"]
            process.standardOutput = output
            try process.run()
            try await Task.sleep(for: .milliseconds(300 + 150 * round))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "round \(round): the writer must be killed, not exit")
            let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            for line in text.split(separator: "\n") {
                let fields = line.split(separator: " ")
                // A line cut by the kill is not an acknowledgement the writer finished reporting.
                guard fields.count == 3, fields[0] == "ack", let index = UInt64(fields[2]) else { continue }
                acknowledged[String(fields[1])] = index
            }

            let verify = try await ServerProcess.run(server, ["log", "verify", "-dataDir", dataDir])
            #expect(verify.status == 0, "round \(round): log verify failed: \(verify.stderr)")

            let store = try LogStore(directory: DataDirectory.logStore(dataDir), options: .readOnly)
            var found: [String: [UInt64]] = [:]
            try LogHistory.forEachRecord(in: store) { record in
                if let envelope = record.envelope { found[envelope.requestID.description, default: []].append(record.index) }
                return true
            }
            try store.close()
            for (requestID, index) in acknowledged {
                #expect(found[requestID] == [index], "round \(round): acknowledged \(requestID) at \(index), log has \(found[requestID] ?? [])")
            }
        }
        #expect(acknowledged.count > 100, "the writer should have made progress (\(acknowledged.count) acknowledgements)")
    }

    @Test("log backup taken while a writer runs gives a consistent copy a driver starts from")
    func backupWhileWriting() async throws {
        let writer = try Self.executable("lineage-log-writer")
        let server = try Self.executable("lineage-server")
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("backup-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: writer)
        process.arguments = [dataDir, "8"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        try await Task.sleep(for: .milliseconds(500))
        for copy in 0..<3 {
            let out = dataDir + "-copy-\(copy)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let backup = try await ServerProcess.run(server, ["log", "backup", "-dataDir", dataDir, "-out", out])
            #expect(backup.status == 0, "backup \(copy) failed: \(backup.stderr)")
            // One committed state: the applied index, the projection and the log agree.
            let store = try LogStore(directory: DataDirectory.logStore(out))
            #expect(try LogHistory.verify(store).isEmpty)
            let last = try store.lastIndex
            #expect(try store.appliedIndex() == last)
            // A server starts from the copy and keeps appending after it.
            let driver = try LogDriver(
                store: store, applier: RecordingApplier(),
                settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
            let next = try await withThrowingTaskGroup(of: Consensus.LogIndex?.self) { group in
                group.addTask { try await driver.run(); return nil }
                while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(5)) }
                let applied = try await driver.propose([1, 2, 3])
                group.cancelAll()
                return applied.index
            }
            #expect(next > last)
            try store.close()
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
