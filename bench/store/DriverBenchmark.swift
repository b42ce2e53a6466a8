import Consensus
import IdentityModel
import LogStore
import Server

#if canImport(Glibc)
import Glibc
#endif

/// The path an event takes on a single server: propose → Raft → one group-committed LMDB
/// transaction (entries, hard state, projection write, applied index) → acknowledge. Each
/// writer proposes its next event as soon as the previous one is acknowledged.
struct DriverMeasurement {
    let writers: Int
    let latencies: [Duration]
    let total: Duration

    var eventsPerSecond: Double { Double(latencies.count) / seconds(total) }

    func percentile(_ fraction: Double) -> Duration {
        let sorted = latencies.sorted()
        let position = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return sorted[max(0, position)]
    }
}

/// Decodes each event and stores its request ID: the smallest realistic projection.
struct RequestIndex: LogApplier {
    mutating func apply(_ data: [UInt8], requestID: Consensus.RequestID, at index: Consensus.LogIndex) -> (outcome: Bool, writes: [ProjectionWrite]) {
        guard let envelope = try? EventCodec.decode(data) else { return (false, []) }
        return (true, [.put(table: "requests", key: envelope.requestID.bytes, value: [UInt8](repeating: 0, count: 8))])
    }

    func snapshotData() -> [UInt8] { [] }
    mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite] { [] }
}

func driverBenchmark(_ directory: String, writers: Int, eventsPerWriter: Int) async throws -> DriverMeasurement {
    let store = try LogStore(directory: directory)
    let driver = try LogDriver(store: store, applier: RequestIndex(),
                               settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
    let clock = ContinuousClock()
    let (latencies, total) = try await withThrowingTaskGroup(of: [Duration]?.self) { group in
        group.addTask { try await driver.run(); return nil }
        while driver.currentStatus.role != .leader { try await Task.sleep(for: .milliseconds(1)) }
        let started = clock.now
        for _ in 0..<writers {
            group.addTask {
                var random = SystemRandomNumberGenerator()
                var latencies: [Duration] = []
                latencies.reserveCapacity(eventsPerWriter)
                for _ in 0..<eventsPerWriter {
                    let envelope = EventEnvelope(
                        issuedAt: Timestamp(millisecondsSinceEpoch: 1_800_000_000_000), actor: .localAdmin(uid: 0),
                        requestID: RequestID.random(using: &random),
                        event: .joinTokenCreated(JoinTokenCreated(token: JoinToken(
                            tokenSHA256: try SHA256Digest(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }),
                            expiresAt: Timestamp(secondsSinceEpoch: 4_000_000_000)))))
                    let data = try EventCodec.encode(envelope)
                    let start = clock.now
                    _ = try await driver.propose(data)
                    latencies.append(clock.now - start)
                }
                return latencies
            }
        }
        var all: [Duration] = []
        for _ in 0..<writers { if let batch = try await group.next(), let batch { all += batch } }
        let total = clock.now - started
        group.cancelAll()
        return (all, total)
    }
    try store.close()
    return DriverMeasurement(writers: writers, latencies: latencies, total: total)
}
