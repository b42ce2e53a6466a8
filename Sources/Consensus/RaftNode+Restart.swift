/// What a driver needs when it reopens a node over a durable log.
extension RaftNode {
    /// Tells the core that the application already applied everything up to `index` before it
    /// restarted (the driver stores the applied index with the projections, etcd's consistent
    /// index), so those committed entries are not handed out again. Call right after `init`.
    public mutating func restoreAppliedIndex(_ index: LogIndex) {
        precondition(index >= log.applied, "applied index \(index) is behind the snapshot at \(log.applied)")
        precondition(index <= log.committed, "applied index \(index) is beyond the stored commit \(log.committed)")
        log.advanceApplied(to: index)
    }

    /// Starts an election now instead of waiting for a timeout. A new single-server cluster
    /// uses it to become leader at once; in a larger cluster it is only a faster first timeout.
    public mutating func campaignNow() {
        campaign(settings.preVote ? .preElection : .election)
    }
}
