/// Bounds of the server runtime (the consensus core's are `Consensus.Limits`).
public enum Limits {
    // MARK: Cluster transport

    /// Raft messages waiting for one peer; past this, new ones are dropped (Raft retransmits).
    public static let peerQueueMessagesMax = 4_096
    /// Encoded bytes waiting for one peer.
    public static let peerQueueBytesMax = 32 << 20
    /// Encoded bytes of one Step batch. Below gRPC's 4 MiB default receive limit, so a batch is
    /// never refused for its size; an append carries at most `Consensus.Limits.appendBatchBytesMax`.
    public static let stepBatchBytesMax = 3 << 20
    /// Messages in one Step request; the receiver refuses more.
    public static let stepBatchMessagesMax = 1_024
    /// A single encoded message larger than a batch (a large snapshot) is dropped: snapshots do
    /// not stream between servers yet.
    public static let raftMessageBytesMax = stepBatchBytesMax
    /// How long one Step RPC may take before its batch is given up.
    public static let stepTimeout: Duration = .seconds(1)

    // MARK: Forwarding

    /// How long a write on a follower keeps looking for a leader before it fails as Unavailable.
    public static let leaderWait: Duration = .seconds(10)
    /// How long the leader may take to commit and apply a forwarded write.
    public static let forwardTimeout: Duration = .seconds(10)
    /// How long a membership change (join or leave) may take: forwarding to the leader, the
    /// leader's wait for a term commit, and the change's commit and apply.
    public static let membershipChangeTimeout: Duration = .seconds(15)
    /// How long a follower waits to apply a write the leader acknowledged.
    public static let forwardedApplyWait: Duration = .seconds(10)

    // MARK: Cluster identity

    /// Lifetime of the server SVID the upstream authority signs at start, before this server's
    /// own CA exists (it needs a leader to be recorded); replaced once the CA is active.
    public static let bootstrapSVIDTTL: Duration = .seconds(3600)
}
