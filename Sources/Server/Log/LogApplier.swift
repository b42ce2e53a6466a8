import Consensus
import LogStore

/// What the driver applies committed commands to: the projections. Deterministic — the same
/// entries in the same order give the same outcomes and the same table writes on every server.
public protocol LogApplier: SendableMetatype {
    /// What a proposer learns about its command (applied, or rejected by an apply-time check).
    associatedtype Outcome: Sendable

    /// Applies the command at `index`, proposed under `requestID`. The returned writes are stored
    /// in the same LMDB transaction as the new applied index, so a crash never applies twice or
    /// loses an apply. Throwing stops the driver: a committed entry that cannot be applied is
    /// never skipped.
    mutating func apply(_ data: [UInt8], requestID: RequestID, at index: Consensus.LogIndex) throws -> (outcome: Outcome, writes: [ProjectionWrite])

    /// Where and with what outcome the entry carrying `requestID` was applied, if the applier
    /// still knows: a waiter whose entry a snapshot covered (or that registered after its entry
    /// applied) is answered from here.
    func recordedOutcome(of requestID: RequestID) -> (index: Consensus.LogIndex, outcome: Outcome)?

    /// Everything applied through `index` is final: its entries are committed (durable on a
    /// quorum and in this server's log) and applied in order. The moment to let readers see
    /// it. The store may write the matching table writes a moment later; after a crash, replay
    /// from the log repeats the applies the store lost, with the same results.
    mutating func committed(through index: Consensus.LogIndex)

    /// An image of the whole state for a Raft snapshot.
    func snapshotData() -> [UInt8]

    /// Replaces the state with a snapshot's; returns the table writes that make the stored
    /// projections equal to it (starting with clears).
    mutating func restore(from data: [UInt8], at index: Consensus.LogIndex) throws -> [ProjectionWrite]
}

extension LogApplier {
    public mutating func committed(through index: Consensus.LogIndex) {}

    public func recordedOutcome(of requestID: RequestID) -> (index: Consensus.LogIndex, outcome: Outcome)? { nil }
}
