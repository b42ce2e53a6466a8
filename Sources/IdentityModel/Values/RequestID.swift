/// A caller-chosen idempotency key of exactly 16 bytes (a UUID's size).
///
/// A retried command carries the same request ID, so the leader can tell a retry from a second
/// request and answer with the first result instead of appending a duplicate event.
public struct RequestID: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 16

    /// The 16 bytes, big-endian halves: the first eight bytes are `high`.
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(bytes: some Collection<UInt8>) throws(ValidationError) {
        guard bytes.count == Self.byteCount else {
            throw ValidationError(field: "", .wrongLength(expectedBytes: Self.byteCount))
        }
        // `Data` (what protobuf fields hold) iterates byte by byte through its storage
        // enumeration; its contiguous buffer does not.
        if let id = bytes.withContiguousStorageIfAvailable(Self.init(contiguous:)) {
            self = id
        } else {
            self.init(contiguous: Array(bytes))
        }
    }

    private init(contiguous bytes: some Collection<UInt8>) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (offset, byte) in bytes.enumerated() {
            if offset < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.init(high: high, low: low)
    }

    /// Draws a fresh ID from `generator` (injected, so simulations replay).
    public static func random(using generator: inout some RandomNumberGenerator) -> RequestID {
        RequestID(high: generator.next(), low: generator.next())
    }

    public var bytes: [UInt8] {
        (0..<8).reversed().map { UInt8(truncatingIfNeeded: high >> ($0 * 8)) }
            + (0..<8).reversed().map { UInt8(truncatingIfNeeded: low >> ($0 * 8)) }
    }

    /// 32 lowercase hex digits.
    public var description: String { TextRule.hex(bytes) }
}
