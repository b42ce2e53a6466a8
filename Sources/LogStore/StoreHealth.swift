/// Whether this node's log can be trusted for voting and leading.
///
/// A bad record *before* a good one cannot be a torn write (LMDB commits are atomic), so it is
/// damage to data this node may have acknowledged. The PAR/CTRL study (FAST'18) showed that a
/// node which keeps voting with such a log can help elect a leader missing committed entries;
/// the node must stay out of elections until the log is repaired from peers.
public enum StoreHealth: Equatable, Hashable, Sendable, CustomStringConvertible {
    case healthy
    /// The first log index that is corrupt or missing (including a commit index beyond the
    /// last stored entry). Repair by appending from a peer at or below it, or by installing a
    /// snapshot past it.
    case corruption(index: UInt64)

    /// False while the store is degraded: the Raft driver must not grant votes or campaign.
    public var mayVoteOrLead: Bool { self == .healthy }

    public var description: String {
        switch self {
        case .healthy: return "healthy"
        case .corruption(let index): return "degraded: log corrupt from index \(index)"
        }
    }
}

/// What `LogStore` found and did while opening.
public struct OpenReport: Equatable, Sendable {
    /// How the clean-close seal of `data.mdb` was handled.
    public enum Seal: Equatable, Sendable {
        /// No seal: the last writer did not close cleanly, or sealing is off.
        case absent
        /// The seal matched `data.mdb` byte for byte.
        case verified
        /// A seal existed but `verifySealOnOpen` was false, so it was not checked.
        case skipped
    }

    /// Log indexes of unreadable records after the last good record that were removed
    /// (a torn tail). Empty when the tail was intact. Read-only stores report but keep them.
    public var truncatedTail: [UInt64] = []
    /// First corrupt or missing index found before the last good record, if any.
    public var midLogCorruption: UInt64?
    public var seal: Seal = .absent
    /// Records checked by the startup scan.
    public var recordsScanned: Int = 0
}
