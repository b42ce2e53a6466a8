/// Leadership transfer (Ongaro's thesis §3.10).
extension RaftNode {
    /// Hands leadership to `target`: the leader stops taking proposals, brings the target up to
    /// date and then tells it to campaign at once (`timeoutNow`). The transfer is abandoned if
    /// it does not finish within an election timeout.
    public mutating func transferLeadership(to target: NodeID) throws(TransferError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard target != id, configuration.contains(target), progress[target] != nil else {
            throw .invalidTarget
        }
        if leadTransferee == target { return }
        leadTransferee = target
        // The transfer gets one full election timeout to complete.
        electionElapsedTicks = 0
        if progress[target]?.match == log.lastIndex() {
            send(Message(kind: .timeoutNow, to: target))
        } else {
            sendAppend(to: target)
        }
    }
}
