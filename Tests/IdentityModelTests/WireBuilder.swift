/// Hand-built protobuf wire bytes, for records the encoder would never write.
enum Wire {
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }

    static func varintField(_ number: UInt64, _ value: UInt64) -> [UInt8] {
        varint(number << 3) + varint(value)
    }

    static func bytesField(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] {
        varint(number << 3 | 2) + varint(UInt64(payload.count)) + payload
    }

    static func stringField(_ number: UInt64, _ text: String) -> [UInt8] {
        bytesField(number, Array(text.utf8))
    }

    /// A valid envelope without its event: schema version, time, actor (local admin uid 0),
    /// request ID.
    static func envelopeHeader(schemaVersion: UInt64 = 1) -> [UInt8] {
        varintField(1, schemaVersion)
            + varintField(2, 1_767_225_600_000)
            + bytesField(3, varintField(2, 0))
            + bytesField(4, Array(0x00...0x0F))
    }
}
