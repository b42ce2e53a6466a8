/// The byte layout of the rows that are not a single model value: a version byte, then fixed
/// fields in order — one-byte flags, 8-byte big-endian integers, and byte strings prefixed
/// with a 4-byte big-endian length. Hand-rolled because these rows are tiny and Projections
/// depends on no serialization library; stable because the version byte comes first.
enum RowFormat {
    static let version: UInt8 = 1

    struct Writer {
        private(set) var bytes: [UInt8] = [RowFormat.version]

        mutating func byte(_ value: UInt8) { bytes.append(value) }
        mutating func flag(_ value: Bool) { bytes.append(value ? 1 : 0) }
        mutating func integer(_ value: UInt64) { bytes += RowFormat.bigEndian(value) }
        mutating func field(_ value: [UInt8]) {
            precondition(value.count <= Int(UInt32.max), "row field too large")
            bytes += RowFormat.bigEndian(UInt64(value.count)).suffix(4)
            bytes += value
        }
    }

    struct Reader {
        private let bytes: [UInt8]
        private var offset: Int

        /// Starts after the version byte, which must be `RowFormat.version`.
        init(_ bytes: [UInt8]) throws(RowFormat.Failure) {
            guard bytes.first == RowFormat.version else {
                throw Failure(reason: "unknown row version \(bytes.first.map(String.init) ?? "none")")
            }
            self.bytes = bytes
            self.offset = 1
        }

        mutating func byte() throws(RowFormat.Failure) -> UInt8 {
            try take(1)[0]
        }

        mutating func flag() throws(RowFormat.Failure) -> Bool {
            switch try byte() {
            case 0: return false
            case 1: return true
            case let other: throw Failure(reason: "flag byte \(other) is neither 0 nor 1")
            }
        }

        mutating func integer() throws(RowFormat.Failure) -> UInt64 {
            try take(8).reduce(0) { $0 << 8 | UInt64($1) }
        }

        mutating func field() throws(RowFormat.Failure) -> [UInt8] {
            let length = try take(4).reduce(0) { $0 << 8 | Int($1) }
            return try take(length)
        }

        /// Refuses trailing bytes: a row written by a newer layout must not half-read.
        func finish() throws(RowFormat.Failure) {
            if offset != bytes.count { throw Failure(reason: "\(bytes.count - offset) trailing bytes") }
        }

        private mutating func take(_ count: Int) throws(RowFormat.Failure) -> [UInt8] {
            guard count <= bytes.count - offset else { throw Failure(reason: "truncated") }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }
    }

    struct Failure: Error {
        var reason: String
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
    }

    static func integer(_ bytes: [UInt8]) -> UInt64? {
        bytes.count == 8 ? bytes.reduce(0) { $0 << 8 | UInt64($1) } : nil
    }
}
