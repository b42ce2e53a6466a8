/// A ReadIndex request waiting for a heartbeat quorum to confirm this leader.
struct PendingRead: Sendable, Hashable {
    var context: UInt64
    /// The commit index when the request arrived; the read may be served once applied.
    var index: LogIndex
    var acknowledgements: Set<NodeID>
}

/// Linearizable reads without writing to the log (Ongaro's thesis §6.4).
extension RaftNode {
    /// Asks for a read index. The answer arrives as a `ReadState` in a later `Ready`, carrying
    /// `context` (which must be non-zero and unique among outstanding requests).
    ///
    /// NB: a new leader does not know the true commit index until it commits its no-op, so
    /// requests wait for that; then each is confirmed by a heartbeat round reaching a quorum,
    /// which proves no newer leader existed when the read index was chosen. Requests are
    /// dropped if leadership is lost; callers retry after a timeout.
    public mutating func readIndex(context: UInt64) throws(ReadIndexError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard context != 0 else { throw .invalidContext }
        let waiting = readsAwaitingTermCommit.count + pendingReads.count
        guard waiting < Limits.pendingReadsMax else { throw .backpressure }
        if mutations.contains(.readIndexWithoutQuorum) {
            readStates.append(ReadState(index: log.committed, context: context))
            return
        }
        if hasCommittedInCurrentTerm {
            startRead(context: context)
        } else {
            readsAwaitingTermCommit.append(context)
        }
    }

    mutating func startReadsAwaitingTermCommit() {
        guard role == .leader, hasCommittedInCurrentTerm, !readsAwaitingTermCommit.isEmpty else {
            return
        }
        let contexts = readsAwaitingTermCommit
        readsAwaitingTermCommit = []
        for context in contexts { startRead(context: context) }
    }

    mutating func startRead(context: UInt64) {
        precondition(hasCommittedInCurrentTerm, "read index before the term's first commit")
        if configuration.quorum == 1 && configuration.contains(id) {
            readStates.append(ReadState(index: log.committed, context: context))
            return
        }
        pendingReads.append(
            PendingRead(context: context, index: log.committed, acknowledgements: [id]))
        broadcastHeartbeat(context: context)
    }

    /// Records a heartbeat answer. When the request it names has a quorum, it and every
    /// earlier request are confirmed (a quorum at a later round also vouches for earlier ones).
    mutating func acknowledgeRead(context: UInt64, from peer: NodeID) {
        guard let position = pendingReads.firstIndex(where: { $0.context == context }) else {
            return
        }
        pendingReads[position].acknowledgements.insert(peer)
        let votes = pendingReads[position].acknowledgements.filter(configuration.contains).count
        guard votes >= configuration.quorum else { return }
        for read in pendingReads[...position] {
            readStates.append(ReadState(index: read.index, context: read.context))
        }
        pendingReads.removeSubrange(...position)
    }
}
