import Consensus
import ConsensusSimulation
import IdentityModel
import Projections
import SPIFFE
import Testing

/// The simulator's checkers over the real projections: each replica folds the committed
/// commands into an `IdentityState` with `Projector.apply`, snapshots are `snapshotBytes()`,
/// and the digest compared at every applied index is `IdentityState.digest()` — so "the
/// projections are identical at every applied index" is checked on the code the server runs.
struct ProjectionStateMachine: StateMachine {
    var state = IdentityState()

    init() {}

    init(snapshot: [UInt8]) throws(DecodingError) {
        do {
            state = try IdentityState.restore(snapshotBytes: snapshot)
        } catch {
            throw .invalidValue("projection snapshot: \(error)")
        }
    }

    /// Client payloads are random bytes; each becomes a real event deterministically, chosen so
    /// that creates, updates, deletes, duplicates (rejections) and token races all occur.
    mutating func apply(_ entry: Entry) {
        let bytes = entry.data
        let selector = Int(bytes.first ?? 0)
        let slot = Int(bytes.dropFirst().first ?? 0) % 12
        let time = Timestamp(secondsSinceEpoch: 1_800_000_000 + Int64(entry.index))
        let event: Event
        switch selector % 5 {
        case 0, 1:
            event = .registrationEntryCreated(RegistrationEntryCreated(entry: Self.entry(slot, revision: 0, time: time)))
        case 2:
            let revision = (state.entries[Self.entryID(slot)]?.revisionNumber ?? 0) + 1
            event = .registrationEntryUpdated(RegistrationEntryUpdated(entry: Self.entry(slot, revision: revision, time: time)))
        case 3:
            let revision = state.entries[Self.entryID(slot)]?.revisionNumber ?? 0
            event = .registrationEntryDeleted(RegistrationEntryDeleted(entryID: Self.entryID(slot), revisionNumber: revision))
        default:
            let token = try! SHA256Digest(bytes: [UInt8](repeating: UInt8(slot), count: 32))
            if selector % 2 == 0 {
                event = .joinTokenCreated(JoinTokenCreated(token: JoinToken(tokenSHA256: token, expiresAt: time.advanced(by: .seconds(30)))))
            } else {
                let agent = try! SPIFFEID(parsing: "spiffe://example.org/spire/agent/join_token/t\(slot)")
                event = .joinTokenConsumed(JoinTokenConsumed(tokenSHA256: token, agentID: agent))
            }
        }
        let envelope = EventEnvelope(
            issuedAt: time, actor: .localAdmin(uid: 0),
            requestID: try! RequestID(bytes: (0..<16).map { UInt8(truncatingIfNeeded: entry.index >> (($0 % 8) * 8)) }),
            event: event)
        _ = Projector.apply(envelope, at: LogIndex(entry.index), to: &state)
    }

    var digest: UInt64 { state.digest() }

    func snapshot() -> [UInt8] { state.snapshotBytes() }

    static func entryID(_ slot: Int) -> RegistrationEntryID { try! RegistrationEntryID("entry-\(slot)") }

    static func entry(_ slot: Int, revision: Int64, time: Timestamp) -> RegistrationEntry {
        RegistrationEntry(
            id: entryID(slot), spiffeID: try! SPIFFEID(parsing: "spiffe://example.org/w/\(slot)"),
            parentID: try! SPIFFEID(parsing: "spiffe://example.org/node/\(slot % 3)"),
            selectors: [try! Selector(type: "unix", value: "uid:\(revision % 3)")], revisionNumber: revision, createdAt: time)
    }
}

@Suite("Simulator over the real projections")
struct ProjectionSimulationTests {
    @Test("seeds pass every checker with IdentityState as the replicated state", arguments: [0...9, 10...19] as [ClosedRange<UInt64>])
    func projectionSeeds(seeds: ClosedRange<UInt64>) async {
        for seed in seeds {
            await Task.yield()
            var simulation = Simulation<ProjectionStateMachine>(options: SeedRunner.options(seed: seed))
            do {
                let statistics = try simulation.run()
                // The checkers ran over real work: requests were acknowledged and applied.
                #expect(statistics.acknowledgedRequests > 0, "seed \(seed): \(statistics)")
            } catch {
                Issue.record("seed \(seed): \(error)")
            }
        }
    }
}
