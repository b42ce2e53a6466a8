import Foundation
import Testing
@testable import LogStore

@Suite struct LogTests {
    @Test func appendThenReadBack() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            #expect(try store.firstIndex == 1)
            #expect(try store.lastIndex == 0)
            #expect(try store.term(at: 0) == 0)
            let written = makeEntries(1...10, term: 1) + makeEntries(11...20, term: 2)
            try store.append(written, hardState: StoredHardState(term: 2, vote: 3, commit: 4))
            #expect(try store.lastIndex == 20)
            #expect(try store.entries(from: 1, to: 21) == written)
            #expect(try store.entries(from: 5, to: 8) == Array(written[4..<7]))
            #expect(try store.term(at: 10) == 1)
            #expect(try store.term(at: 11) == 2)
            #expect(try store.hardState() == StoredHardState(term: 2, vote: 3, commit: 4))
            #expect(throws: LogStoreError.unavailable(index: 21)) { try store.entries(from: 1, to: 22) }
            #expect(throws: LogStoreError.unavailable(index: 21)) { try store.term(at: 21) }
            try store.close()
        }
    }

    @Test func maxBytesLimitsAReadButAlwaysReturnsOneEntry() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...10, term: 1, payloadBytes: 100))
            #expect(try store.entries(from: 1, to: 11, maxBytes: 250).count == 2)
            #expect(try store.entries(from: 3, to: 11, maxBytes: 1).map(\.index) == [3])
            #expect(try store.entries(from: 4, to: 4).isEmpty)
        }
    }

    @Test func conflictingAppendReplacesTheSuffix() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...10, term: 1))
            let replacement = makeEntries(6...8, term: 2)
            try store.append(replacement)
            #expect(try store.lastIndex == 8)
            #expect(try store.entries(from: 1, to: 9) == makeEntries(1...5, term: 1) + replacement)
            // Appending right after the end extends the log.
            try store.append(makeEntries(9...9, term: 2))
            #expect(try store.lastIndex == 9)
        }
    }

    @Test func appendRefusesGapsCommittedTruncationAndBadInput() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...10, term: 2), hardState: StoredHardState(term: 2, vote: 1, commit: 5))
            #expect(throws: LogStoreError.self) { try store.append(makeEntries(12...12, term: 2)) }
            #expect(throws: LogStoreError.self) { try store.append(makeEntries(4...6, term: 3)) }
            #expect(throws: LogStoreError.self) { try store.append(makeEntries(11...11, term: 1)) }
            let holes = [StoredEntry(index: 11, term: 2, payload: []), StoredEntry(index: 13, term: 2, payload: [])]
            #expect(throws: LogStoreError.self) { try store.append(holes) }
            let tooBig = StoredEntry(index: 11, term: 2, payload: [UInt8](repeating: 0, count: Limits.entryPayloadBytesMax + 1))
            #expect(throws: LogStoreError.self) { try store.append([tooBig]) }
            // Nothing of the refused appends was written.
            #expect(try store.lastIndex == 10)
            #expect(try store.entries(from: 1, to: 11) == makeEntries(1...10, term: 2))
            // Replacing only uncommitted entries is fine.
            try store.append(makeEntries(6...7, term: 3))
            #expect(try store.lastIndex == 7)
        }
    }

    @Test func hardStateRoundTripsAndSurvivesReopen() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            #expect(try store.hardState() == .initial)
            let state = StoredHardState(term: .max - 1, vote: 0xDEAD_BEEF, commit: 0)
            try store.setHardState(state)
            #expect(try store.hardState() == state)
            try store.close()
            let reopened = try LogStore(directory: directory)
            #expect(try reopened.hardState() == state)
            #expect(reopened.openReport.seal == .verified)
        }
    }

    @Test func groupCommitWritesManyEntriesInOneTransaction() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            // Coalesce 64 proposals of 16 entries; the third proposal conflicts with the second.
            var batch = WriteBatch()
            var next: UInt64 = 1
            for proposal in 0..<64 {
                let entries = makeEntries(next...(next + 15), term: 1)
                batch.merge(WriteBatch(entries: entries, hardState: StoredHardState(term: 1, vote: 1, commit: UInt64(proposal))))
                next += 16
            }
            batch.merge(WriteBatch(entries: makeEntries(1_020...1_024, term: 2)))
            batch.merge(WriteBatch(projectionWrites: [.put(table: "entries", key: [1], value: [2])], appliedIndex: 3))
            #expect(batch.entries.count == 1_024)
            #expect(!batch.isFull)
            try store.commit(batch)
            #expect(try store.lastIndex == 1_024)
            #expect(try store.term(at: 1_019) == 1)
            #expect(try store.term(at: 1_020) == 2)
            #expect(try store.hardState().commit == 63)
            #expect(try store.appliedIndex() == 3)
            #expect(try store.value(in: "entries", key: [1]) == [2])
            #expect(try store.entries(from: 1, to: 1_025).map(\.index) == Array(1...1_024))
        }
    }

    @Test func writeBatchMergeFollowsTheStoreRules() {
        var batch = WriteBatch(entries: makeEntries(1...5, term: 1))
        batch.merge(WriteBatch(entries: makeEntries(3...4, term: 2), appliedIndex: 2))
        #expect(batch.entries.map(\.index) == [1, 2, 3, 4])
        #expect(batch.entries.map(\.term) == [1, 1, 2, 2])
        #expect(batch.byteCount == batch.entries.reduce(0) { $0 + $1.payload.count })
        #expect(batch.appliedIndex == 2)
        #expect(WriteBatch().isEmpty)
        let full = WriteBatch(entries: makeEntries(1...UInt64(Limits.batchEntriesMax), term: 1))
        #expect(full.isFull)
        #expect(!full.canMerge(WriteBatch(entries: makeEntries(1...1, term: 1))))
        #expect(batch.canMerge(WriteBatch(projectionWrites: [.clear(table: "t")])))
    }

    @Test func snapshotReplacesThePrefixAndCompactionFollows() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...20, term: 1) + makeEntries(21...30, term: 2))
            #expect(throws: LogStoreError.self) { try store.compact(through: 5) }  // no snapshot yet
            let meta = StoredSnapshotMeta(index: 15, term: 1, configuration: Array("voters=1,2,3".utf8))
            let data = [UInt8](repeating: 7, count: 100_000)
            try store.saveSnapshot(meta: meta, data: data)
            #expect(try store.firstIndex == 16)
            #expect(try store.lastIndex == 30)
            #expect(try store.term(at: 15) == 1)
            #expect(throws: LogStoreError.compacted(index: 14)) { try store.term(at: 14) }
            #expect(throws: LogStoreError.compacted(index: 10)) { try store.entries(from: 10, to: 20) }
            #expect(try store.entries(from: 16, to: 31).count == 15)
            let stored = try #require(try store.snapshot())
            #expect(stored.meta == meta)
            #expect(stored.data == data)
            // Compaction only within what a snapshot covers.
            #expect(throws: LogStoreError.self) { try store.compact(through: 20) }
            try store.saveSnapshot(meta: StoredSnapshotMeta(index: 25, term: 2, configuration: []), data: [1])
            #expect(try store.firstIndex == 26)
            #expect(try store.entries(from: 26, to: 31) == makeEntries(26...30, term: 2))
            // A snapshot whose term does not match the log replaces the whole log.
            try store.saveSnapshot(meta: StoredSnapshotMeta(index: 28, term: 5, configuration: []), data: [2])
            #expect(try store.lastIndex == 28)
            #expect(try store.firstIndex == 29)
            #expect(try store.term(at: 28) == 5)
            try store.append(makeEntries(29...29, term: 5))
            #expect(try store.verify().isClean)
        }
    }

    @Test func compactDropsThePrefixUpToASnapshot() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...10, term: 1))
            // A snapshot written at 8 with its term keeps entries 9...10.
            try store.saveSnapshot(meta: StoredSnapshotMeta(index: 8, term: 1, configuration: []), data: [])
            #expect(try store.firstIndex == 9)
            #expect(throws: LogStoreError.compacted(index: 8)) { try store.compact(through: 8) }
            try store.append(makeEntries(11...12, term: 1))
            #expect(throws: LogStoreError.self) { try store.compact(through: 10) }
        }
    }

    @Test func reopenKeepsEverything() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...50, term: 3), hardState: StoredHardState(term: 3, vote: 2, commit: 40))
                try store.saveSnapshot(meta: StoredSnapshotMeta(index: 10, term: 3, configuration: [9]), data: [1, 2, 3])
                try store.applyBatch(projectionWrites: [.put(table: "agents", key: [1], value: [10])], appliedIndex: 40)
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.openReport.seal == .verified)
            #expect(store.openReport.truncatedTail.isEmpty)
            #expect(store.health == .healthy)
            #expect(try store.entries(from: 11, to: 51) == makeEntries(11...50, term: 3))
            #expect(try store.hardState() == StoredHardState(term: 3, vote: 2, commit: 40))
            #expect(try store.snapshot()?.data == [1, 2, 3])
            #expect(try store.appliedIndex() == 40)
            #expect(try store.value(in: "agents", key: [1]) == [10])
            #expect(try store.tableNames() == ["agents"])
            // The seal is gone while a writer has the store open.
            #expect(!FileManager.default.fileExists(atPath: directory + "/data.mdb.seal"))
        }
    }

    @Test func filesAreCreatedPrivate() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.close()
            let attributes = try FileManager.default.attributesOfItem(atPath: directory)
            #expect((attributes[.posixPermissions] as? Int) == 0o700)
            for name in ["data.mdb", "lock.mdb", "data.mdb.seal"] {
                let file = try FileManager.default.attributesOfItem(atPath: directory + "/" + name)
                #expect((file[.posixPermissions] as? Int) == 0o600, "\(name)")
            }
        }
    }
}
