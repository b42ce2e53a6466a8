import Foundation
import Testing
@testable import LogStore

/// A fresh directory under /tmp for one test, removed afterwards. The store goes into a
/// subdirectory that does not exist yet, so every test also exercises directory creation.
@discardableResult
func withStoreDirectory<R>(_ body: (String) throws -> R) throws -> R {
    var template = Array("/tmp/logstore-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let root = String(cString: try #require(created))
    defer { try? FileManager.default.removeItem(atPath: root) }
    return try body(root + "/store")
}

func makeEntries(_ indexes: ClosedRange<UInt64>, term: UInt64, payloadBytes: Int = 0) -> [StoredEntry] {
    indexes.map { index in
        var payload = Array("entry-\(index)-term-\(term)".utf8)
        if payloadBytes > payload.count { payload += [UInt8](repeating: UInt8(truncatingIfNeeded: index), count: payloadBytes - payload.count) }
        return StoredEntry(index: index, term: term, payload: payload)
    }
}

/// A payload that occurs exactly once in data.mdb, so a test can find the record's bytes.
func markerPayload(_ index: UInt64) -> [UInt8] {
    Array("LINEAGE-MARKER-\(index)-7f3a9c1e5b2d-END".utf8)
}

func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
    guard !needle.isEmpty, haystack.count >= needle.count else { return [] }
    var found: [Int] = []
    let first = needle[0]
    var position = 0
    while position <= haystack.count - needle.count {
        if haystack[position] == first && Array(haystack[position..<(position + needle.count)]) == needle {
            found.append(position)
        }
        position += 1
    }
    return found
}

func readFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Overwrites one byte in place, like `dd conv=notrunc`, and returns the old value.
@discardableResult
func flipByte(in path: String, at offset: Int, mask: UInt8 = 0x40) throws -> UInt8 {
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let old = try #require(try handle.read(upToCount: 1)?.first)
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [old ^ mask])
    try handle.synchronize()
    return old
}

extension LogStore {
    /// Test-only: rewrites a log record's stored bytes through a raw LMDB write, bypassing
    /// the codec — the way outside damage would look to the store.
    func damageLogRecord(at index: UInt64, _ mutate: (inout [UInt8]) -> Void) throws {
        try write { txn in
            try LogRecord.withKey(index) { key in
                let value = try #require(try txn.get(tables.log, key: key))
                var bytes = Array(value)
                mutate(&bytes)
                try bytes.withUnsafeBytes { try txn.put(tables.log, key: key, value: $0) }
            }
        }
    }

    /// Test-only: rewrites a projection value's stored bytes.
    func damageProjectionValue(table: String, key: [UInt8], _ mutate: (inout [UInt8]) -> Void) throws {
        try write { txn in
            let dbi = try #require(try projectionTable(table, txn, create: false))
            try key.withUnsafeBytes { keyBytes in
                let value = try #require(try txn.get(dbi, key: keyBytes))
                var bytes = Array(value)
                mutate(&bytes)
                try bytes.withUnsafeBytes { try txn.put(dbi, key: keyBytes, value: $0) }
            }
        }
    }

    /// Test-only: writes a meta record as a newer build would.
    func writeFormatVersion(_ version: UInt32) throws {
        try write { txn in
            var body: [UInt8] = []
            body.appendBigEndian(version)
            try putRecord(txn, tables.meta, .meta, key: MetaKey.format, body: body)
        }
    }
}
