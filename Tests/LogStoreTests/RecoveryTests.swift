import Foundation
import Testing
@testable import LogStore

@Suite struct RecoveryTests {
    @Test func tornTailIsTruncatedAndReported() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1), hardState: StoredHardState(term: 1, vote: 1, commit: 8))
                try store.damageLogRecord(at: 10) { $0[$0.count - 1] ^= 0xFF }
                try store.damageLogRecord(at: 9) { $0.removeLast(3) }
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.openReport.truncatedTail == [9, 10])
            #expect(store.openReport.midLogCorruption == nil)
            #expect(store.health == .healthy)
            #expect(try store.lastIndex == 8)
            #expect(try store.entries(from: 1, to: 9) == makeEntries(1...8, term: 1))
            #expect(try store.verify().isClean)
            // The log continues where the good part ended.
            try store.append(makeEntries(9...9, term: 2))
            #expect(try store.lastIndex == 9)
        }
    }

    @Test func tornTailBelowTheCommitIndexDegradesTheStore() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1), hardState: StoredHardState(term: 1, vote: 1, commit: 10))
                try store.damageLogRecord(at: 10) { $0[0] = 0x7F }
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.openReport.truncatedTail == [10])
            // A committed entry is gone: the node must not vote until a peer resends it.
            #expect(store.health == .corruption(index: 10))
            #expect(!store.health.mayVoteOrLead)
            #expect(try store.verify().issues.contains(.commitBeyondLog(commit: 10, lastIndex: 9)))
            try store.append(makeEntries(10...10, term: 1))
            #expect(store.health == .healthy)
        }
    }

    @Test func midLogCorruptionDegradesTheStoreAndIsRepairedFromAPeer() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1), hardState: StoredHardState(term: 1, vote: 1, commit: 10))
                try store.damageLogRecord(at: 5) { $0[12] ^= 0x01 }
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.openReport.truncatedTail.isEmpty)
            #expect(store.openReport.midLogCorruption == 5)
            #expect(store.health == .corruption(index: 5))
            #expect(store.corruptIndex == 5)
            #expect(throws: LogStoreError.corrupt(index: 5)) { try store.entries(from: 1, to: 11) }
            #expect(throws: LogStoreError.corrupt(index: 5)) { try store.term(at: 5) }
            #expect(try store.entries(from: 6, to: 11) == makeEntries(6...10, term: 1))
            let report = try store.verify()
            #expect(report.firstBadLogIndex == 5)
            #expect(report.issues.count == 1)
            // Repair: the leader resends from the corrupt index; committed entries may be replaced
            // only on this path.
            try store.append(makeEntries(5...10, term: 1))
            #expect(store.health == .healthy)
            #expect(try store.verify().isClean)
            #expect(try store.entries(from: 1, to: 11) == makeEntries(1...10, term: 1))
        }
    }

    @Test func aMissingRecordInTheMiddleIsCorruption() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1))
                try store.write { txn in
                    try LogRecord.withKey(4) { _ = try txn.delete(store.tables.log, key: $0) }
                }
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.health == .corruption(index: 4))
            #expect(try store.verify().issues == [.logGap(expected: 4, found: 5)])
            #expect(throws: LogStoreError.corrupt(index: 4)) { try store.term(at: 4) }
        }
    }

    @Test func snapshotPastTheCorruptionRestoresHealth() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1))
                try store.damageLogRecord(at: 3) { $0[20] ^= 0x10 }
                try store.close()
            }
            let store = try LogStore(directory: directory)
            #expect(store.health == .corruption(index: 3))
            try store.saveSnapshot(meta: StoredSnapshotMeta(index: 6, term: 1, configuration: []), data: [])
            #expect(store.health == .healthy)
            #expect(try store.firstIndex == 7)
        }
    }

    @Test func termRegressionIsReported() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.append(makeEntries(1...3, term: 4))
            // Rewrite entry 2 with a valid checksum but a lower term, as a buggy writer would.
            try store.write { txn in
                let record = LogRecord.encode(StoredEntry(index: 2, term: 1, payload: []))
                try LogRecord.withKey(2) { key in try record.withUnsafeBytes { try txn.put(store.tables.log, key: key, value: $0) } }
            }
            let report = try store.verify()
            #expect(report.issues == [.termRegression(index: 2, term: 1, previousTerm: 4)])
            #expect(store.health == .corruption(index: 2))
        }
    }

    @Test func aBoundedStartupScanStillFindsRecentCorruptionAndVerifyFindsTheRest() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...100, term: 1))
                try store.damageLogRecord(at: 10) { $0[15] ^= 0x01 }
                try store.damageLogRecord(at: 95) { $0[15] ^= 0x01 }
                try store.close()
            }
            var options = LogStore.Options()
            options.startupScanRecordsMax = 20
            let store = try LogStore(directory: directory, options: options)
            #expect(store.openReport.midLogCorruption == 95)
            #expect(store.openReport.recordsScanned <= 21)
            #expect(try store.verify().issues.compactMap(\.logIndex) == [10, 95])
            #expect(store.health == .corruption(index: 10))
        }
    }

    @Test func aStoreDroppedWithoutCloseReopensWithoutASeal() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...3, term: 1))
                // No close(): like a killed process, nothing is sealed.
            }
            let store = try LogStore(directory: directory)
            #expect(store.openReport.seal == .absent)
            #expect(try store.lastIndex == 3)
        }
    }

    @Test func aRecordMovedToTheLargestKeyNeitherCrashesReadersNorSurvivesAWriter() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...10, term: 1))
                try store.write { txn in
                    let record = LogRecord.encode(makeEntries(10...10, term: 1)[0])
                    try LogRecord.withKey(10) { _ = try txn.delete(store.tables.log, key: $0) }
                    try LogRecord.withKey(.max) { key in
                        try record.withUnsafeBytes { try txn.put(store.tables.log, key: key, value: $0) }
                    }
                }
                try store.close()
            }
            do {
                let reader = try LogStore(directory: directory, options: .readOnly)
                #expect(reader.openReport.truncatedTail == [.max])
                #expect(reader.health == .corruption(index: .max))
                #expect(try reader.entries(from: 1, to: 10) == makeEntries(1...9, term: 1))
                #expect(throws: LogStoreError.corrupt(index: 10)) { try reader.entries(from: 9, to: 11) }
                #expect(try reader.verify().issues.contains(.logGap(expected: 10, found: .max)))
                try reader.close()
            }
            let writer = try LogStore(directory: directory)
            #expect(writer.openReport.truncatedTail == [.max])
            #expect(writer.health == .healthy)
            #expect(try writer.lastIndex == 9)
            #expect(try writer.verify().isClean)
        }
    }

    @Test func newerFormatIsRefused() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.writeFormatVersion(2)
                try store.close()
            }
            #expect(throws: LogStoreError.versionUnsupported(found: 2, supported: 1)) {
                _ = try LogStore(directory: directory)
            }
        }
    }
}

/// A byte flipped in `data.mdb` while the store is closed, `dd conv=notrunc` style.
@Suite struct DataFileDamageTests {
    /// Offsets relative to the start of the marker payload of entry 5 (of 10). LMDB stores a
    /// leaf node as header, key, value; the value is our record: 9-byte header, 8-byte term,
    /// payload. So -17 is the record version, -12 a checksum byte, -1 the term's low byte, and
    /// -18 the low byte of the big-endian key.
    static let recordOffsets = [3, 20, -1, -9, -12, -16, -17, -18, -21]

    @Test(arguments: recordOffsets)
    func aFlippedRecordByteIsACleanOpenErrorAndVerifyNamesTheIndex(relativeOffset: Int) throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                let entries = (1...10).map { StoredEntry(index: $0, term: 1, payload: markerPayload($0)) }
                try store.append(entries, hardState: StoredHardState(term: 1, vote: 1, commit: 10))
                try store.close()
            }
            let dataPath = directory + "/data.mdb"
            let found = offsets(of: markerPayload(5), in: try readFile(dataPath))
            #expect(found.count == 1)
            let offset = try #require(found.first) + relativeOffset
            try flipByte(in: dataPath, at: offset)

            // With the seal: refused before LMDB maps the file.
            #expect(throws: LogStoreError.dataFileModified(path: dataPath, page: offset / 4096)) {
                _ = try LogStore(directory: directory)
            }

            // Without the seal (forensics): the record checksum still catches it.
            var options = LogStore.Options()
            options.verifySealOnOpen = false
            let store = try LogStore(directory: directory, options: options)
            #expect(store.openReport.seal == .skipped)
            // The startup scan alone already keeps the node out of elections.
            #expect(store.openReport.midLogCorruption == 5)
            #expect(store.health == .corruption(index: 5))
            #expect(throws: LogStoreError.corrupt(index: 5)) { try store.entries(from: 1, to: 11) }
            let report = try store.verify()
            #expect(report.firstBadLogIndex == 5, "issues: \(report.issues)")
            #expect(store.health == .corruption(index: 5))
            #expect(!store.health.mayVoteOrLead)
        }
    }

    @Test func anyFlippedByteAnywhereIsRefusedAtOpen() throws {
        try withStoreDirectory { directory in
            do {
                let store = try LogStore(directory: directory)
                try store.append(makeEntries(1...300, term: 1, payloadBytes: 200))
                try store.applyBatch(projectionWrites: [.put(table: "t", key: [1], value: [2])], appliedIndex: 1)
                try store.close()
            }
            let dataPath = directory + "/data.mdb"
            let size = try readFile(dataPath).count
            var generator = SplitMix64(seed: 0x5EED)
            // Both meta pages, then random offsets across the file.
            let targets = [0, 20, 4096 + 20] + (0..<25).map { _ in Int(generator.next() % UInt64(size)) }
            for offset in targets {
                try flipByte(in: dataPath, at: offset)
                #expect(throws: LogStoreError.dataFileModified(path: dataPath, page: offset / 4096)) {
                    _ = try LogStore(directory: directory)
                }
                try flipByte(in: dataPath, at: offset)
            }
            // Restored byte for byte: the seal matches again.
            let store = try LogStore(directory: directory)
            #expect(store.openReport.seal == .verified)
            #expect(try store.verify().isClean)
        }
    }

    @Test func aDamagedSealIsReportedNotIgnored() throws {
        try withStoreDirectory { directory in
            let store = try LogStore(directory: directory)
            try store.close()
            try flipByte(in: directory + "/data.mdb.seal", at: 10)
            #expect(throws: LogStoreError.corruptMetadata(name: directory + "/data.mdb.seal")) {
                _ = try LogStore(directory: directory)
            }
        }
    }
}

/// Deterministic offsets for the damage tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
