import IdentityModel
import Projections
import SPIFFE
import Testing

/// SPIRE 1.14.6 fixed a join-token TOCTOU where concurrent attestations with one token all
/// succeeded. Here every attestation is a consume event in the log; the log orders them, and
/// the compare-and-set in apply lets exactly the first one through.
@Suite("Join-token race")
struct JoinTokenRaceTests {
    static let token = JoinToken(tokenSHA256: F.digest(0x42), expiresAt: F.at(600))

    /// Each of `count` racers proposes a consume followed by its attestation; `order` is the
    /// order the leader happened to append them in.
    static func race(order: [Int]) -> (winners: [Int], state: IdentityState, digest: UInt64) {
        var h = Harness()
        h.must(.joinTokenCreated(.init(token: token)))
        var winners: [Int] = []
        for racer in order {
            let agent = F.id("spiffe://example.org/spire/agent/join_token/racer-\(racer)")
            let outcome = h.apply(.joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: agent)), at: F.at(1))
            if outcome.isApplied {
                winners.append(racer)
                h.must(F.attested(agent, selectors: F.selectors("join_token:racer"), canReattest: false))
            } else {
                #expect(outcome == .rejected(.joinTokenAlreadyConsumed(token.tokenSHA256, by: F.id(
                    "spiffe://example.org/spire/agent/join_token/racer-\(winners.first ?? -1)"))))
            }
        }
        return (winners, h.state, h.state.digest())
    }

    @Test("50 consumes: exactly one applies, the first in log order")
    func fiftyRacers() {
        let (winners, state, _) = Self.race(order: Array(0..<50))
        #expect(winners == [0])
        #expect(state.agents.count == 1)
        #expect(state.joinTokens[Self.token.tokenSHA256]?.consumedBy == F.id("spiffe://example.org/spire/agent/join_token/racer-0"))
    }

    @Test("the outcome depends only on log order, and replays identically", arguments: [UInt64(1), 7, 99])
    func shuffled(seed: UInt64) {
        var generator = SplitMix64(seed: seed)
        let order = Array(0..<50).shuffled(using: &generator)
        let first = Self.race(order: order)
        let second = Self.race(order: order)
        #expect(first.winners == [order[0]])
        #expect(first.digest == second.digest)
        #expect(first.state == second.state)
    }
}

/// A tiny seeded generator so shuffles are the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
