import Foundation
import Testing
@testable import LogStore

@Suite struct ProjectionTests {
    @Test func projectionWritesAndAppliedIndexCommitTogether() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.applyBatch(projectionWrites: [
                .put(table: "entries", key: Array("e1".utf8), value: [1]),
                .put(table: "entries", key: Array("e2".utf8), value: [2]),
                .put(table: "agents", key: Array("a1".utf8), value: [3]),
            ], appliedIndex: 5)
            #expect(try store.appliedIndex() == 5)
            try store.applyBatch(projectionWrites: [
                .delete(table: "entries", key: Array("e1".utf8)),
                .delete(table: "missing", key: [1]),
            ], appliedIndex: 6)
            #expect(try store.value(in: "entries", key: Array("e1".utf8)) == nil)

            // Replaying an index already applied is refused, and its writes are not kept: the
            // applied index and the projection change are one transaction.
            #expect(throws: LogStoreError.self) {
                try store.applyBatch(projectionWrites: [.put(table: "entries", key: Array("e9".utf8), value: [9])],
                                     appliedIndex: 6)
            }
            #expect(try store.value(in: "entries", key: Array("e9".utf8)) == nil)
            #expect(try store.appliedIndex() == 6)

            // A failure partway through a batch (a bad key after good writes) leaves nothing.
            #expect(throws: LogStoreError.self) {
                try store.applyBatch(projectionWrites: [
                    .put(table: "entries", key: Array("e3".utf8), value: [3]),
                    .put(table: "entries", key: [], value: [4]),
                ], appliedIndex: 7)
            }
            #expect(try store.value(in: "entries", key: Array("e3".utf8)) == nil)
            #expect(try store.appliedIndex() == 6)
        }
    }

    @Test func aTableCreatedInAFailedTransactionIsNotRemembered() throws {
        try withStoreDirectory { directory in
            var options = LogStore.Options()
            options.mapSizeBytes = 256 << 10
            let store = try LogStore(directory: directory, options: options)
            let big = [UInt8](repeating: 1, count: 1 << 20)
            #expect(throws: LogStoreError.self) {
                try store.applyBatch(projectionWrites: [.put(table: "fresh", key: [1], value: big)], appliedIndex: 1)
            }
            // The handle LMDB closed on abort must not be reused.
            try store.applyBatch(projectionWrites: [.put(table: "fresh", key: [1], value: [1])], appliedIndex: 1)
            #expect(try store.value(in: "fresh", key: [1]) == [1])
        }
    }

    @Test func iterationIsInKeyOrderAndCanStartAndStop() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            let writes = (0..<50).map { ProjectionWrite.put(table: "agents", key: [UInt8($0)], value: [UInt8($0), 0xAB]) }
            try store.applyBatch(projectionWrites: writes.reversed(), appliedIndex: 1)
            var seen: [[UInt8]] = []
            try store.forEach(in: "agents") { key, value in
                #expect(value == [key[0], 0xAB])
                seen.append(key)
                return true
            }
            #expect(seen == (0..<50).map { [UInt8($0)] })
            var fromTen: [UInt8] = []
            try store.forEach(in: "agents", from: [10]) { key, _ in
                fromTen.append(key[0])
                return fromTen.count < 3
            }
            #expect(fromTen == [10, 11, 12])
            try store.forEach(in: "nothing") { _, _ in
                Issue.record("empty table yielded a row")
                return true
            }
        }
    }

    @Test func aCorruptValueNamesItsTableAndKey() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.applyBatch(projectionWrites: [
                .put(table: "bundles", key: Array("td-a".utf8), value: Array("pem".utf8)),
                .put(table: "agents", key: Array("a1".utf8), value: [1, 2, 3]),
                .put(table: "agents", key: Array("a2".utf8), value: [4, 5, 6]),
            ], appliedIndex: 1)
            try store.damageProjectionValue(table: "agents", key: Array("a2".utf8)) { $0[$0.count - 1] ^= 0x04 }
            #expect(throws: LogStoreError.corruptTable(name: "agents", key: Array("a2".utf8))) {
                _ = try store.value(in: "agents", key: Array("a2".utf8))
            }
            #expect(try store.value(in: "agents", key: Array("a1".utf8)) == [1, 2, 3])
            #expect(throws: LogStoreError.corruptTable(name: "agents", key: Array("a2".utf8))) {
                try store.forEach(in: "agents") { _, _ in true }
            }
            let report = try store.verify()
            let bad = try #require(report.firstBadProjectionValue)
            #expect(bad.table == "agents")
            #expect(bad.key == Array("a2".utf8))
            #expect(report.firstBadLogIndex == nil)
            // Projection damage does not stop the node voting: it is rebuilt from the log.
            #expect(store.health == .healthy)
        }
    }

    @Test func aValueCopiedToAnotherTableFailsItsChecksum() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.applyBatch(projectionWrites: [
                .put(table: "one", key: [1], value: [7]),
                .put(table: "two", key: [1], value: [8]),
            ], appliedIndex: 1)
            let copied = try store.read { txn -> [UInt8] in
                let one = try #require(try store.projectionTable("one", txn, create: false))
                let value = try [UInt8(1)].withUnsafeBytes { key in try txn.get(one, key: key).map { Array($0) } }
                return try #require(value)
            }
            try store.damageProjectionValue(table: "two", key: [1]) { $0 = copied }
            #expect(throws: LogStoreError.corruptTable(name: "two", key: [1])) { _ = try store.value(in: "two", key: [1]) }
        }
    }

    @Test(arguments: ["", "has space", "p:colon", String(repeating: "x", count: 65)])
    func badTableNamesAreRefused(name: String) throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            #expect(throws: LogStoreError.self) {
                try store.applyBatch(projectionWrites: [.put(table: name, key: [1], value: [1])], appliedIndex: 1)
            }
        }
    }
}

@Suite struct UnsyncedMetaCommitTests {
    /// An apply-only commit without the meta flush is as visible and as durable across a
    /// process restart as a synced one, and the environment flag never outlives the call,
    /// even when the batch is refused.
    @Test func applyOnlyCommitWithoutMetaSyncIsKept() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.commit(WriteBatch(entries: makeEntries(1...3, term: 1),
                                            hardState: StoredHardState(term: 1, vote: 1, commit: 0)))
                #expect(!store.isMetaSyncDeferred)
                try store.commit(WriteBatch(
                    hardState: StoredHardState(term: 1, vote: 1, commit: 2),
                    projectionWrites: [.put(table: "entries", key: Array("e1".utf8), value: [1])],
                    appliedIndex: 2), syncMeta: false)
                #expect(!store.isMetaSyncDeferred)
                #expect(try store.appliedIndex() == 2)
                #expect(try store.value(in: "entries", key: Array("e1".utf8)) == [1])

                // A refused batch (the applied index going back) restores the flag too.
                #expect(throws: LogStoreError.self) {
                    try store.commit(WriteBatch(appliedIndex: 1), syncMeta: false)
                }
                #expect(!store.isMetaSyncDeferred)
                // A synced commit after it carries both to disk.
                try store.commit(WriteBatch(entries: makeEntries(4...4, term: 1)))
                try store.close()
            }
            let reopened = try LogStore(directory: directory)
            #expect(try reopened.appliedIndex() == 2)
            #expect(try reopened.lastIndex == 4)
            #expect(try reopened.value(in: "entries", key: Array("e1".utf8)) == [1])
            #expect(try reopened.hardState().commit == 2)
        }
    }
}
