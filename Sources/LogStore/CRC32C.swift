/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), slicing-by-8.
///
/// Chosen over SHA-256 because records are checked on every read and at every open: CRC-32C
/// detects all burst errors up to 32 bits and every odd number of flipped bits, which is the
/// damage model here (bit rot, torn or misdirected writes), not an adversary. Tamper evidence
/// against an adversary is the Merkle log's job.
struct CRC32C {
    private(set) var state: UInt32 = 0xFFFF_FFFF

    var value: UInt32 { ~state }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        var crc = state
        crc32cTable.withUnsafeBufferPointer { table in
            while remaining >= 8 {
                let word = UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
                    ^ UInt64(crc)
                crc = table[7 << 8 | Int(word & 0xff)]
                    ^ table[6 << 8 | Int((word >> 8) & 0xff)]
                    ^ table[5 << 8 | Int((word >> 16) & 0xff)]
                    ^ table[4 << 8 | Int((word >> 24) & 0xff)]
                    ^ table[3 << 8 | Int((word >> 32) & 0xff)]
                    ^ table[2 << 8 | Int((word >> 40) & 0xff)]
                    ^ table[1 << 8 | Int((word >> 48) & 0xff)]
                    ^ table[Int(word >> 56)]
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                let byte = pointer.load(as: UInt8.self)
                crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8)
                pointer += 1
                remaining -= 1
            }
        }
        state = crc
    }

    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    mutating func update(byte: UInt8) {
        withUnsafeBytes(of: byte) { update($0) }
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }
}

/// Eight 256-entry tables: table k maps a byte to its CRC contribution k bytes further on.
private let crc32cTable: [UInt32] = {
    var table = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
        var crc = UInt32(byte)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        table[byte] = crc
    }
    for slice in 1..<8 {
        for byte in 0..<256 {
            let previous = table[(slice - 1) << 8 | byte]
            table[slice << 8 | byte] = (previous >> 8) ^ table[Int(previous & 0xff)]
        }
    }
    return table
}()
