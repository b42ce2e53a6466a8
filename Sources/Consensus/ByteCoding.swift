/// Why bytes could not be decoded. Decoding never traps on input; it reports one of these.
public enum DecodingError: Error, Sendable, Hashable {
    /// The input ended in the middle of a field.
    case truncated
    /// The leading version byte names a format this build does not know.
    case unsupportedVersion(UInt8)
    /// A field holds a value outside its domain (unknown kind, zero node ID, overlong varint).
    case invalidValue(String)
    /// A count or length exceeds its `Limits` bound or the remaining input.
    case limitExceeded(String)
    /// Bytes remain after a complete value.
    case trailingBytes
}

/// Appends primitive fields to a byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func write(_ byte: UInt8) { bytes.append(byte) }

    /// LEB128: seven bits per byte, low bits first, high bit set on all but the last byte.
    mutating func writeVarint(_ value: UInt64) {
        var remaining = value
        while remaining >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
            remaining >>= 7
        }
        bytes.append(UInt8(remaining))
    }

    mutating func writeBytes(_ data: [UInt8]) {
        writeVarint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }
}

/// Reads primitive fields with bounds checks; every failure is a thrown `DecodingError`.
struct ByteReader {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position == bytes.count }
    var remainingCount: Int { bytes.count - position }

    mutating func readByte() throws(DecodingError) -> UInt8 {
        guard position < bytes.count else { throw .truncated }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readVarint() throws(DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            // The tenth byte may only contribute the single top bit of a 64-bit value.
            if shift == 63 && byte > 1 { throw .invalidValue("varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    mutating func readBool() throws(DecodingError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        default: throw .invalidValue("boolean")
        }
    }

    /// Reads a count and checks it against `maximum` before anything is allocated.
    mutating func readCount(maximum: Int, _ field: String) throws(DecodingError) -> Int {
        let count = try readVarint()
        guard count <= UInt64(maximum) else { throw .limitExceeded(field) }
        return Int(count)
    }

    mutating func readBytes(maximum: Int, _ field: String) throws(DecodingError) -> [UInt8] {
        let count = try readCount(maximum: maximum, field)
        guard count <= remainingCount else { throw .truncated }
        defer { position += count }
        return Array(bytes[position..<position + count])
    }
}
