import Consensus

/// A deterministic application fed by committed commands. The simulator compares `digest`
/// across replicas at every applied index; the real projections plug in here later.
public protocol StateMachine {
    init()
    /// Restores the state captured by `snapshot()`; throws on bytes it cannot read.
    init(snapshot: [UInt8]) throws(DecodingError)
    /// Applies one command entry that the session table admitted. Must be deterministic.
    mutating func apply(_ entry: Entry)
    /// A fingerprint of the whole state; equal states must have equal digests.
    var digest: UInt64 { get }
    func snapshot() -> [UInt8]
}

/// FNV-1a (64-bit) over bytes, continuing from `hash`. Chosen for being tiny and
/// deterministic everywhere; it is a fingerprint for divergence checks, not a security hash.
public func fnv1a64(_ bytes: some Sequence<UInt8>, continuing hash: UInt64 = 0xCBF2_9CE4_8422_2325)
    -> UInt64
{
    var result = hash
    for byte in bytes {
        result ^= UInt64(byte)
        result = result &* 0x0000_0100_0000_01B3
    }
    return result
}

/// The default state machine: a hash chain over every applied command (index, request ID and
/// payload), so two replicas agree on the digest only if they applied the same commands in
/// the same order.
public struct HashChainStateMachine: StateMachine, Sendable, Hashable {
    public private(set) var digest: UInt64 = fnv1a64([])
    public private(set) var appliedCount: UInt64 = 0

    public init() {}

    public init(snapshot: [UInt8]) throws(DecodingError) {
        guard snapshot.count == 16 else { throw .invalidValue("hash chain snapshot length") }
        digest = Self.readWord(snapshot, at: 0)
        appliedCount = Self.readWord(snapshot, at: 8)
    }

    public mutating func apply(_ entry: Entry) {
        var header: [UInt8] = []
        for word in [entry.index, entry.requestID.client, entry.requestID.sequence] {
            header.append(contentsOf: Self.bytes(of: word))
        }
        digest = fnv1a64(entry.data, continuing: fnv1a64(header, continuing: digest))
        appliedCount += 1
    }

    public func snapshot() -> [UInt8] { Self.bytes(of: digest) + Self.bytes(of: appliedCount) }

    private static func bytes(of word: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: word >> (56 - 8 * $0)) }
    }

    private static func readWord(_ bytes: [UInt8], at offset: Int) -> UInt64 {
        bytes[offset..<offset + 8].reduce(0) { $0 << 8 | UInt64($1) }
    }
}
