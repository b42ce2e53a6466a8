import Consensus
import IdentityModel
import Synchronization

/// Envelopes this server proposed, already decoded, for its own apply to take instead of
/// decoding the entry's bytes again (about 3% of the CPU an X.509-SVID signing costs).
///
/// The proposer puts the value `EventCodec.encodeChecked` returned with the bytes — equal to
/// what decoding them gives — under the entry's Raft request ID, which no other entry carries;
/// the applier takes it when it applies that entry, and the proposer drops it when its call
/// ends either way, so a proposal that never commits leaves nothing behind. Entries from other
/// servers, and any proposal past the bound, are decoded from their bytes as before.
final class DecodedProposals: Sendable {
    /// More proposals than this in flight are decoded at apply; the table never grows past it.
    static let capacity = 4_096

    private let held = Mutex<[Consensus.RequestID: EventEnvelope]>([:])

    func hold(_ envelope: EventEnvelope, for requestID: Consensus.RequestID) {
        held.withLock { held in
            guard held.count < Self.capacity else { return }
            held[requestID] = envelope
        }
    }

    func take(_ requestID: Consensus.RequestID) -> EventEnvelope? {
        held.withLock { $0.removeValue(forKey: requestID) }
    }

    func drop(_ requestID: Consensus.RequestID) {
        held.withLock { _ = $0.removeValue(forKey: requestID) }
    }
}
