#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The system's CSPRNG, read 4 KiB at a time.
///
/// `SystemRandomNumberGenerator` makes one `getrandom` call per 8 bytes; a signing takes four
/// of them (the serial number, the event's request ID), about 2% of its CPU. The bytes come
/// from the same source, `getrandom`; only the system calls are fewer. Each word is handed
/// out once.
struct PooledRandom: RandomNumberGenerator {
    private static let pool = Mutex<[UInt64]>([])
    private static let urandom: Int32 = {
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        // Without the system CSPRNG nothing here may be signed (the stdlib traps too).
        precondition(descriptor >= 0, "cannot open /dev/urandom: errno \(errno)")
        return descriptor
    }()
    private static let refillWords = 512

    mutating func next() -> UInt64 {
        Self.pool.withLock { words in
            if words.isEmpty { words = Self.systemWords(Self.refillWords) }
            return words.removeLast()
        }
    }

    private static func systemWords(_ count: Int) -> [UInt64] {
        [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var filled = 0
            while filled < raw.count {
                let got = read(urandom, raw.baseAddress! + filled, raw.count - filled)
                if got < 0 && errno == EINTR { continue }
                precondition(got > 0, "reading /dev/urandom failed: errno \(errno)")
                filled += got
            }
            initialized = count
        }
    }
}
