/// What a record's checksum is bound to besides its own bytes: the table it lives in and its key.
///
/// Binding the key means a value that ends up under the wrong key (a flipped key byte, a
/// misdirected write) fails its checksum instead of being read as valid data at a new place.
struct RecordDomain {
    let tag: UInt8
    /// The table name for projection tables; empty for LogStore's own tables.
    let name: [UInt8]

    static let log = RecordDomain(tag: 1, name: [])
    static let hardState = RecordDomain(tag: 2, name: [])
    static let snapshot = RecordDomain(tag: 3, name: [])
    static let meta = RecordDomain(tag: 4, name: [])
    static func projection(_ table: String) -> RecordDomain {
        RecordDomain(tag: 5, name: Array(table.utf8))
    }
}

/// Why a stored value is not a valid record.
enum RecordDefect: Equatable, Sendable, CustomStringConvertible {
    case tooShort(bytes: Int)
    case unknownVersion(UInt8)
    case lengthMismatch(declared: Int, actual: Int)
    case checksumMismatch(stored: UInt32, computed: UInt32)
    case badBody(String)

    var description: String {
        switch self {
        case .tooShort(let bytes): return "record of \(bytes) bytes is shorter than its header"
        case .unknownVersion(let version): return "unknown record version \(version)"
        case .lengthMismatch(let declared, let actual):
            return "header declares \(declared) body bytes, record has \(actual)"
        case .checksumMismatch(let stored, let computed):
            return "checksum mismatch (stored \(stored), computed \(computed))"
        case .badBody(let why): return why
        }
    }
}

/// The versioned, checksummed envelope around every value LogStore writes.
///
/// LMDB does not checksum pages, so without this a flipped bit in `data.mdb` would be served as
/// valid data. Layout, integers big-endian:
///
///     offset 0   version   UInt8   (1)
///     offset 1   length    UInt32  body byte count
///     offset 5   checksum  UInt32  CRC-32C over domain ‖ key ‖ bytes 0..<5 ‖ body
///     offset 9   body
enum RecordCodec {
    static let version: UInt8 = 1
    static let headerBytes = 9

    /// Builds a record; `writeBody` must append exactly `bodyBytes` bytes.
    static func encode(
        domain: RecordDomain, key: UnsafeRawBufferPointer, bodyBytes: Int,
        writeBody: (inout [UInt8]) -> Void
    ) -> [UInt8] {
        precondition(bodyBytes >= 0 && bodyBytes <= Int(UInt32.max), "record body size")
        var record = [UInt8]()
        record.reserveCapacity(headerBytes + bodyBytes)
        record.append(version)
        record.appendBigEndian(UInt32(bodyBytes))
        record.appendBigEndian(UInt32(0))
        writeBody(&record)
        precondition(record.count == headerBytes + bodyBytes, "record body size differs from header")
        let checksum = record.withUnsafeBytes { bytes in
            computeChecksum(domain: domain, key: key, header: UnsafeRawBufferPointer(rebasing: bytes[0..<5]),
                            body: UnsafeRawBufferPointer(rebasing: bytes[headerBytes...]))
        }
        record.withUnsafeMutableBytes {
            $0.storeBytes(of: checksum.bigEndian, toByteOffset: 5, as: UInt32.self)
        }
        return record
    }

    static func encode(domain: RecordDomain, key: [UInt8], body: [UInt8]) -> [UInt8] {
        key.withUnsafeBytes { keyBytes in
            encode(domain: domain, key: keyBytes, bodyBytes: body.count) { $0.append(contentsOf: body) }
        }
    }

    /// Checks a stored value and returns its body, or what is wrong with it.
    static func decode(
        _ record: UnsafeRawBufferPointer, domain: RecordDomain, key: UnsafeRawBufferPointer
    ) -> Result<UnsafeRawBufferPointer, RecordDefectError> {
        guard record.count >= headerBytes else {
            return .failure(RecordDefectError(.tooShort(bytes: record.count)))
        }
        let recordVersion = record[0]
        guard recordVersion == version else {
            return .failure(RecordDefectError(.unknownVersion(recordVersion)))
        }
        let declared = Int(record.loadBigEndianUInt32(at: 1))
        guard declared == record.count - headerBytes else {
            return .failure(RecordDefectError(
                .lengthMismatch(declared: declared, actual: record.count - headerBytes)))
        }
        let stored = record.loadBigEndianUInt32(at: 5)
        let body = UnsafeRawBufferPointer(rebasing: record[headerBytes...])
        let computed = computeChecksum(
            domain: domain, key: key, header: UnsafeRawBufferPointer(rebasing: record[0..<5]), body: body)
        guard stored == computed else {
            return .failure(RecordDefectError(.checksumMismatch(stored: stored, computed: computed)))
        }
        return .success(body)
    }

    private static func computeChecksum(
        domain: RecordDomain, key: UnsafeRawBufferPointer,
        header: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer
    ) -> UInt32 {
        var crc = CRC32C()
        crc.update(byte: domain.tag)
        crc.update(byte: UInt8(truncatingIfNeeded: domain.name.count))
        crc.update(domain.name)
        crc.update(byte: UInt8(truncatingIfNeeded: key.count >> 8))
        crc.update(byte: UInt8(truncatingIfNeeded: key.count))
        crc.update(key)
        crc.update(header)
        crc.update(body)
        return crc.value
    }
}

/// `RecordDefect` wrapped as an `Error` so decoding can return a `Result`.
struct RecordDefectError: Error, Equatable {
    let defect: RecordDefect
    init(_ defect: RecordDefect) { self.defect = defect }
}

/// Log records: key = big-endian index (so LMDB's byte order is log order), body = term ‖ payload.
enum LogRecord {
    static let keyBytes = 8

    static func withKey<R>(_ index: UInt64, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: index.bigEndian, body)
    }

    static func index(fromKey key: UnsafeRawBufferPointer) -> UInt64? {
        guard key.count == keyBytes else { return nil }
        return key.loadBigEndianUInt64(at: 0)
    }

    static func encode(_ entry: StoredEntry) -> [UInt8] {
        withKey(entry.index) { key in
            RecordCodec.encode(domain: .log, key: key, bodyBytes: 8 + entry.payload.count) { bytes in
                bytes.appendBigEndian(entry.term)
                bytes.append(contentsOf: entry.payload)
            }
        }
    }

    /// Decodes the term only, without copying the payload (startup scan, `term(at:)`).
    static func decodeTerm(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
        -> Result<UInt64, RecordDefectError>
    {
        RecordCodec.decode(value, domain: .log, key: key).flatMap { body in
            guard body.count >= 8 else {
                return .failure(RecordDefectError(.badBody("log body of \(body.count) bytes has no term")))
            }
            return .success(body.loadBigEndianUInt64(at: 0))
        }
    }

    static func decode(index: UInt64, key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer)
        -> Result<StoredEntry, RecordDefectError>
    {
        RecordCodec.decode(value, domain: .log, key: key).flatMap { body in
            guard body.count >= 8 else {
                return .failure(RecordDefectError(.badBody("log body of \(body.count) bytes has no term")))
            }
            let term = body.loadBigEndianUInt64(at: 0)
            let entry = StoredEntry(index: index, term: term, payload: Array(body[8...]))
            return .success(entry)
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt64) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    mutating func appendBigEndian(_ value: UInt32) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    func loadBigEndianUInt64(at offset: Int) -> UInt64 {
        precondition(offset >= 0 && offset + 8 <= count, "UInt64 read out of bounds")
        return UInt64(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    func loadBigEndianUInt32(at offset: Int) -> UInt32 {
        precondition(offset >= 0 && offset + 4 <= count, "UInt32 read out of bounds")
        return UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }
}
