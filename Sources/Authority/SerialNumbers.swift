import X509

/// SPIRE's serial numbers: uniformly random in [1, 2^128 − 1] (RFC 5280 §4.1.2.2 allows up to
/// 20 octets and requires a positive integer). The generator is injected so that tests and the
/// simulator are reproducible; production passes `SystemRandomNumberGenerator`.
public enum SerialNumbers {
    public static func random<Generator: RandomNumberGenerator>(
        using generator: inout Generator
    ) -> Certificate.SerialNumber {
        var high: UInt64 = 0
        var low: UInt64 = 0
        repeat {
            high = generator.next()
            low = generator.next()
        } while high == 0 && low == 0
        // swift-certificates keeps the magnitude and adds the sign octet when it encodes the
        // DER INTEGER, so these 16 bytes always encode a positive serial.
        var bytes: [UInt8] = []
        bytes.reserveCapacity(16)
        for word in [high, low] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
        }
        return Certificate.SerialNumber(bytes: bytes)
    }
}
