import Foundation
import Testing
@testable import LogStore

@Suite struct CodecTests {
    @Test func crc32cMatchesTheStandardCheckValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        // RFC 3720 B.4: 32 bytes of zeros.
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    }

    @Test func crc32cIsTheSameInPiecesAndWhole() {
        let bytes = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var pieces = CRC32C()
        pieces.update(Array(bytes[0..<3]))
        pieces.update(Array(bytes[3..<517]))
        pieces.update(Array(bytes[517...]))
        #expect(pieces.value == CRC32C.checksum(bytes))
    }

    @Test func logRecordRoundTripsAndGoldenBytes() throws {
        let entry = StoredEntry(index: 7, term: 3, payload: [0xAA, 0xBB])
        let record = LogRecord.encode(entry)
        // version 1, body length 10 (term + payload), checksum, term 3, payload.
        #expect(Array(record[0..<5]) == [1, 0, 0, 0, 10])
        #expect(Array(record[9...]) == [0, 0, 0, 0, 0, 0, 0, 3, 0xAA, 0xBB])
        let decoded = record.withUnsafeBytes { value in
            LogRecord.withKey(7) { key in LogRecord.decode(index: 7, key: key, value: value) }
        }
        #expect(try decoded.get() == entry)
    }

    /// Golden bytes, checksums computed by an independent CRC-32C (Python, bitwise) over
    /// tag ‖ name length ‖ name ‖ key length ‖ key ‖ header ‖ body. Changing the stored format
    /// breaks these on purpose: old stores must stay readable.
    @Test func goldenRecordBytes() {
        let log = LogRecord.encode(StoredEntry(index: 7, term: 3, payload: [0xAA, 0xBB]))
        #expect(log == [1, 0, 0, 0, 10, 178, 81, 203, 24, 0, 0, 0, 0, 0, 0, 0, 3, 0xAA, 0xBB])
        let projection = RecordCodec.encode(domain: .projection("agents"), key: Array("a1".utf8), body: [1, 2, 3])
        #expect(projection == [1, 0, 0, 0, 3, 216, 222, 2, 122, 1, 2, 3])
    }

    @Test(arguments: Array(0..<24))
    func everyFlippedBitOfARecordIsDetected(byteOffset: Int) {
        let entry = StoredEntry(index: 42, term: 9, payload: Array("payload".utf8))
        var record = LogRecord.encode(entry)
        #expect(record.count == 24)
        for bit in 0..<8 {
            record[byteOffset] ^= UInt8(1 << bit)
            let result = record.withUnsafeBytes { value in
                LogRecord.withKey(42) { key in LogRecord.decodeTerm(key: key, value: value) }
            }
            if case .success = result { Issue.record("flip of bit \(bit) at byte \(byteOffset) passed") }
            record[byteOffset] ^= UInt8(1 << bit)
        }
    }

    @Test func aRecordUnderTheWrongKeyFailsItsChecksum() {
        let record = LogRecord.encode(StoredEntry(index: 5, term: 1, payload: [1, 2, 3]))
        let result = record.withUnsafeBytes { value in
            LogRecord.withKey(6) { key in LogRecord.decodeTerm(key: key, value: value) }
        }
        guard case .failure(let failure) = result, case .checksumMismatch = failure.defect else {
            Issue.record("record moved to another index was accepted")
            return
        }
    }

    @Test func errorsSayWhatToDo() {
        #expect(LogStoreError.mapFull(mapSizeBytes: 1 << 20).description.contains("mapSizeBytes"))
        #expect(LogStoreError.from(lmdb: ENOSPC, operation: "commit", env: nil, path: "/x") == .diskFull(path: "/x"))
        #expect(LogStoreError.from(lmdb: EIO, operation: "commit", env: nil, path: "/x") == .ioFailure(operation: "commit"))
        let other = LogStoreError.from(lmdb: -30_796, operation: "mdb_get", env: nil, path: "/x")
        #expect(other.description.contains("MDB_CORRUPTED"))
        #expect(LogStoreError.corrupt(index: 9).description.contains("must not vote"))
    }
}
