/// A minimal reader of protobuf wire format, for the checks the generated code cannot make.
///
/// swift-protobuf keeps fields it does not know as opaque bytes and would fail on a future
/// envelope whose fields changed type. We therefore read `schema_version` ourselves before
/// handing bytes to the generated decoder, and name the field number of unknown fields.
struct WireScanner {
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    struct Field {
        let number: UInt64
        let wireType: WireType
        /// The value of a varint field; 0 for other wire types.
        let varint: UInt64
    }

    struct Failure: Error {
        let reason: String
    }

    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset >= bytes.count }

    /// Reads the next field's tag and skips over its value.
    mutating func next() throws(Failure) -> Field? {
        if isAtEnd { return nil }
        let tag = try readVarint()
        let number = tag >> 3
        guard number > 0, number <= 0x1FFF_FFFF else { throw Failure(reason: "field number \(number) out of range") }
        guard let wireType = WireType(rawValue: UInt8(tag & 7)) else {
            throw Failure(reason: "field \(number) has unsupported wire type \(tag & 7)")
        }
        var value: UInt64 = 0
        switch wireType {
        case .varint: value = try readVarint()
        case .fixed64: try skip(8)
        case .fixed32: try skip(4)
        case .lengthDelimited:
            let length = try readVarint()
            guard length <= UInt64(bytes.count - offset) else {
                throw Failure(reason: "field \(number) is truncated")
            }
            try skip(Int(length))
        }
        return Field(number: number, wireType: wireType, varint: value)
    }

    private mutating func readVarint() throws(Failure) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw Failure(reason: "truncated varint") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64, shift < 63 || byte <= 1 else { throw Failure(reason: "varint overflows 64 bits") }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    private mutating func skip(_ count: Int) throws(Failure) {
        guard count <= bytes.count - offset else { throw Failure(reason: "truncated fixed-size field") }
        offset += count
    }

    /// The numbers of the fields in `bytes`, in order, up to the first unreadable one.
    static func fieldNumbers(in bytes: [UInt8]) -> [UInt64] {
        var scanner = WireScanner(bytes)
        var numbers: [UInt64] = []
        while let field = try? scanner.next() { numbers.append(field.number) }
        return numbers
    }

    /// The number of the first field in `bytes`, or nil when they hold no readable field.
    static func firstFieldNumber(in bytes: [UInt8]) -> UInt64? {
        var scanner = WireScanner(bytes)
        return (try? scanner.next())?.number
    }
}
