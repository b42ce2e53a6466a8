import Foundation
import Synchronization
import Testing
@testable import LogStore

@Suite struct OperationsTests {
    @Test func mapFullIsReportedAndTheStoreStaysUsable() throws {
        try withStoreDirectory { directory in
            var options = LogStore.Options()
            options.mapSizeBytes = 512 << 10
            let store = try LogStore(directory: directory, options: options)
            var next: UInt64 = 1
            var failure: LogStoreError?
            while failure == nil && next < 10_000 {
                do {
                    try store.append(makeEntries(next...(next + 3), term: 1, payloadBytes: 8_000))
                    next += 4
                } catch let error as LogStoreError {
                    failure = error
                }
            }
            guard case .mapFull(let size)? = failure else {
                Issue.record("expected mapFull, got \(String(describing: failure))")
                return
            }
            #expect(size == 512 << 10)
            #expect(failure?.description.contains("mapSizeBytes") == true)
            // Everything committed before is intact and readable.
            #expect(try store.lastIndex == next - 1)
            #expect(try store.entries(from: 1, to: next).count == Int(next - 1))
            #expect(try store.verify().isClean)
            // Growing the map lets the same write through, without reopening.
            try store.setMapSize(8 << 20)
            try store.append(makeEntries(next...(next + 3), term: 1, payloadBytes: 8_000))
            #expect(try store.lastIndex == next + 3)
            try store.close()
            // The larger size is remembered by LMDB.
            let reopened = try LogStore(directory: directory, options: options)
            #expect(try reopened.lastIndex == next + 3)
        }
    }

    @Test func readOnlyBesideAWriterSeesCommittedStateAndCannotWrite() throws {
        try withStoreDirectory { directory in
            let writer = try LogStore(directory: directory)
            try writer.append(makeEntries(1...5, term: 1))
            try writer.applyBatch(projectionWrites: [.put(table: "agents", key: [1], value: [1])], appliedIndex: 5)

            let reader = try LogStore(directory: directory, options: .readOnly)
            #expect(reader.isReadOnly)
            #expect(try reader.entries(from: 1, to: 6) == makeEntries(1...5, term: 1))
            #expect(try reader.value(in: "agents", key: [1]) == [1])

            try writer.append(makeEntries(6...10, term: 2))
            try writer.applyBatch(projectionWrites: [.put(table: "later", key: [2], value: [2])], appliedIndex: 10)
            #expect(try reader.lastIndex == 10)
            #expect(try reader.value(in: "later", key: [2]) == [2])
            #expect(try reader.verify().isClean)

            #expect(throws: LogStoreError.readOnly) { try reader.append(makeEntries(11...11, term: 2)) }
            #expect(throws: LogStoreError.readOnly) { try reader.setHardState(.initial) }
            try reader.close()
            try writer.close()
            // A reader on a closed, sealed store checks the seal and leaves it in place.
            let again = try LogStore(directory: directory, options: .readOnly)
            #expect(again.openReport.seal == .verified)
            #expect(FileManager.default.fileExists(atPath: directory + "/data.mdb.seal"))
        }
    }

    @Test func afterAnIOFailureTheStoreRefusesWritesButStillReads() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...3, term: 1))
            // What `write` records when a commit fails with EIO while the disk has room.
            store.ioFailure = .ioFailure(operation: "mdb_txn_commit")
            #expect(throws: LogStoreError.ioFailure(operation: "mdb_txn_commit")) {
                try store.append(makeEntries(4...4, term: 1))
            }
            #expect(try store.lastIndex == 3)
            // No seal over a store whose last writes may not have reached the disk.
            try store.close()
            #expect(!FileManager.default.fileExists(atPath: directory + "/data.mdb.seal"))
        }
    }

    @Test func oneWriterPerDirectory() throws {
        try withStoreDirectory { directory in
            let writer = try LogStore(directory: directory)
            #expect(throws: LogStoreError.alreadyOpen(path: directory)) { _ = try LogStore(directory: directory) }
            try writer.close()
            _ = try LogStore(directory: directory)
        }
    }

    @Test func readOnlyOpenOfAnEmptyDirectoryIsAClearError() throws {
        try withStoreDirectory { directory in
            #expect(throws: LogStoreError.notAStore(path: directory)) {
                _ = try LogStore(directory: directory, options: .readOnly)
            }
        }
    }

    @Test func backupOpensWithIdenticalContents() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...200, term: 2, payloadBytes: 300),
                             hardState: StoredHardState(term: 2, vote: 1, commit: 150))
            try store.saveSnapshot(meta: StoredSnapshotMeta(index: 50, term: 2, configuration: [1, 2]), data: [5, 5])
            let writes = (0..<100).map { ProjectionWrite.put(table: "entries", key: [UInt8($0)], value: [UInt8($0)]) }
            try store.applyBatch(projectionWrites: writes, appliedIndex: 150)
            let copy = directory + "-backup"
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try store.backup(to: copy)
            #expect(throws: LogStoreError.self) { try store.backup(to: copy) }

            let restored = try LogStore(directory: copy)
            #expect(restored.openReport.seal == .verified)
            #expect(try restored.verify().isClean)
            try expectSameContents(store, restored)
        }
    }
    // A backup taken while another process writes is tested across processes in
    // ServerTests.CrashRecoveryTests: LMDB forbids opening one environment twice in a process.
}

func expectSameContents(_ left: LogStore, _ right: LogStore) throws {
    #expect(try left.firstIndex == right.firstIndex)
    #expect(try left.lastIndex == right.lastIndex)
    let first = try left.firstIndex
    let last = try left.lastIndex
    #expect(try left.entries(from: first, to: last + 1) == right.entries(from: first, to: last + 1))
    #expect(try left.hardState() == right.hardState())
    #expect(try left.appliedIndex() == right.appliedIndex())
    #expect(try left.snapshot()?.meta == right.snapshot()?.meta)
    #expect(try left.snapshot()?.data == right.snapshot()?.data)
    #expect(try left.tableNames() == right.tableNames())
    for table in try left.tableNames() {
        var leftRows: [[UInt8]] = []
        var rightRows: [[UInt8]] = []
        try left.forEach(in: table) { key, value in leftRows.append(key + [0xFF] + value); return true }
        try right.forEach(in: table) { key, value in rightRows.append(key + [0xFF] + value); return true }
        #expect(leftRows == rightRows, "table \(table)")
    }
}
