@testable import Agent
import Testing

/// SplitMix64: a seeded generator, so the policy's jitter is reproducible in tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Failover policy and server resolution")
struct FailoverPolicyTests {
    let settings = FailoverPolicy.Settings(
        switchDelay: .milliseconds(20)...(.milliseconds(200)), roundBase: .milliseconds(500), roundCap: .seconds(8),
        stableAfter: .seconds(10))

    @Test("a failure moves to the next address after a short jitter; a whole failed round backs off exponentially, capped")
    func rounds() {
        var policy = FailoverPolicy(count: 3, start: 1, settings: settings)
        var generator = SeededGenerator(state: 42)
        let t0 = ContinuousClock.now
        var moves: [FailoverPolicy.Move] = []
        for step in 0..<18 { moves.append(policy.failed(at: t0 + .milliseconds(step), using: &generator)) }
        // Round-robin from the start, wrapping.
        #expect(moves.map(\.index) == (0..<18).map { (2 + $0) % 3 })
        // Every third failure ends a round.
        #expect(moves.map(\.roundFailed) == (0..<18).map { $0 % 3 == 2 })
        for move in moves where !move.roundFailed {
            #expect(settings.switchDelay.contains(move.delay), "\(move.delay)")
        }
        // Round n waits within [c/2, c], c = min(8 s, 0.5 s · 2^(n-1)): 0.5, 1, 2, 4, 8, 8.
        let ceilings: [Duration] = [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(8)]
        for (move, ceiling) in zip(moves.filter(\.roundFailed), ceilings) {
            #expect(move.delay >= ceiling / 2 && move.delay <= ceiling, "\(move.delay) for ceiling \(ceiling)")
        }
        #expect(policy.failedRounds == 6)
    }

    @Test("the same seed gives the same moves (nothing but the inputs decides)")
    func deterministic() {
        func run() -> [FailoverPolicy.Move] {
            var policy = FailoverPolicy(count: 4, start: 0, settings: settings)
            var generator = SeededGenerator(state: 7)
            let t0 = ContinuousClock.now
            return (0..<12).map { _ in policy.failed(at: t0, using: &generator) }
        }
        #expect(run() == run())
    }

    @Test("success forgives earlier failures only after the server stayed good for stableAfter")
    func stability() {
        var generator = SeededGenerator(state: 1)
        let t0 = ContinuousClock.now
        var policy = FailoverPolicy(count: 2, start: 0, settings: settings)
        _ = policy.failed(at: t0, using: &generator)  // → 1
        _ = policy.failed(at: t0, using: &generator)  // → 0, round 1 failed
        #expect(policy.failedRounds == 1)

        // A server that syncs and dies within a second: still counted, the next round backs off more.
        policy.succeeded(at: t0 + .seconds(1))
        policy.succeeded(at: t0 + .seconds(1.5))  // the first success is what counts
        #expect(!policy.isStable(at: t0 + .seconds(10.9)))
        _ = policy.failed(at: t0 + .seconds(2), using: &generator)
        let flapping = policy.failed(at: t0 + .seconds(2), using: &generator)
        #expect(flapping.roundFailed && policy.failedRounds == 2)
        #expect(flapping.delay >= .milliseconds(500))

        // A server good for 10 s: its failure is a fresh start — next address, short jitter.
        policy.succeeded(at: t0 + .seconds(3))
        #expect(policy.isStable(at: t0 + .seconds(13)))
        let fresh = policy.failed(at: t0 + .seconds(13), using: &generator)
        #expect(!fresh.roundFailed && policy.failedRounds == 0 && policy.failuresInRound == 1)
        #expect(settings.switchDelay.contains(fresh.delay))
    }

    @Test("one server: every failure is a round, so it backs off like a single-server agent")
    func single() {
        var policy = FailoverPolicy(count: 1, settings: settings)
        var generator = SeededGenerator(state: 3)
        let t0 = ContinuousClock.now
        let moves = (0..<5).map { _ in policy.failed(at: t0, using: &generator) }
        #expect(moves.allSatisfy { $0.index == 0 && $0.roundFailed })
        #expect(moves.last!.delay >= .seconds(4))
    }

    @Test("new addresses after resolution keep the failure counts within bounds")
    func replace() {
        var generator = SeededGenerator(state: 5)
        var policy = FailoverPolicy(count: 3, start: 0, settings: settings)
        _ = policy.failed(at: .now, using: &generator)
        _ = policy.failed(at: .now, using: &generator)
        policy.replaceAddresses(count: 2, start: 1)
        #expect(policy.current == 1 && policy.failuresInRound == 1)
        let move = policy.failed(at: .now, using: &generator)
        #expect(move.roundFailed && move.index == 0)
    }

    @Test("names expand to every address they resolve to, in order, without duplicates; a failed name stays a name")
    func expansion() async {
        struct NoSuchName: Error {}
        let resolver = ServerResolver { name in
            switch name {
            case "spire.example": return ["10.0.0.1", "10.0.0.2", "fd00::3"]
            case "empty.example": return []
            default: throw NoSuchName()
            }
        }
        let configured = [
            ServerEndpoint(host: "spire.example", port: 8081), ServerEndpoint(host: "10.0.0.2", port: 8081),
            ServerEndpoint(host: "10.0.0.9", port: 9), ServerEndpoint(host: "gone.example", port: 1),
            ServerEndpoint(host: "empty.example", port: 2),
        ]
        let resolution = await resolver.resolve(configured)
        #expect(resolution.endpoints.map(\.description) == [
            "10.0.0.1:8081 (spire.example)", "10.0.0.2:8081 (spire.example)", "[fd00::3]:8081 (spire.example)",
            "10.0.0.9:9", "gone.example:1", "empty.example:2",
        ])
        #expect(resolution.failures.keys.sorted() == ["empty.example", "gone.example"])

        let many = ServerResolver { _ in (1...40).map { "10.1.0.\($0)" } }
        #expect(await many.resolve([ServerEndpoint(host: "big.example", port: 1)]).endpoints.count == Limits.resolvedAddressesPerNameMax)
    }

    @Test("the system resolver answers for localhost with a loopback address")
    func systemResolver() async throws {
        let addresses = try await ServerResolver.systemLookup("localhost")
        #expect(addresses.contains("127.0.0.1") || addresses.contains("::1"), "\(addresses)")
        await #expect(throws: ServerResolver.LookupError.self) { try await ServerResolver.systemLookup("no-such-host.invalid") }
    }
}
