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
    /// A single encoded message larger than a batch is dropped. Only a snapshot could be, and
    /// snapshots do not go through Step: they stream (`InstallSnapshot`).
    public static let raftMessageBytesMax = stepBatchBytesMax
    /// How long a send on a peer's step stream (its opening included) may wait before the
    /// stream is given up and opened again.
    public static let stepTimeout: Duration = .seconds(1)
    /// HTTP/2 pings on a peer link while a call (the step stream) is open, and how long an
    /// answer may take: a peer that vanished without closing the connection fails the stream
    /// within about their sum, and the link reconnects.
    public static let peerKeepaliveInterval: Duration = .seconds(1)
    public static let peerKeepaliveTimeout: Duration = .seconds(2)
    /// The shortest ping interval the TLS listener accepts from a client with a call open:
    /// below `peerKeepaliveInterval`, so a ping that arrives a little early is no strike.
    public static let peerKeepaliveIntervalAccepted: Duration = .milliseconds(500)

    // MARK: Snapshot streaming

    /// Snapshot data per `InstallSnapshot` chunk; the receiver refuses larger chunks.
    public static let snapshotChunkBytesMax = 1 << 20
    /// The largest snapshot a member sends or accepts: what the log store can hold
    /// (`LogStore.Limits.snapshotDataBytesMax`, 512 MiB).
    public static let snapshotBytesMax = 512 << 20
    /// How long one snapshot stream may take: a base plus one second per MiB.
    public static func snapshotStreamTimeout(bytes: Int) -> Duration { .seconds(30 + bytes >> 20) }

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

    /// How long a read that must be current waits for a read index from the leader and for
    /// this server to apply through it, before it fails as Unavailable.
    public static let currentReadWait: Duration = .seconds(5)
    /// How long one ReadIndex RPC (or the leader's heartbeat round behind it) may take.
    public static let readIndexTimeout: Duration = .seconds(2)

    /// Request IDs of applied entries remembered to skip a second copy (`RecentRequests`). A
    /// forwarded write retries for at most `leaderWait` (10 s): this covers over 6,500 writes a
    /// second in that window. About 40 bytes per request in LMDB and in snapshots.
    public static let recentRequestsMax = 65_536

    // MARK: Cluster identity

    /// Lifetime of the server SVID the upstream authority signs at start, before this server's
    /// own CA exists (it needs a leader to be recorded); replaced once the CA is active.
    public static let bootstrapSVIDTTL: Duration = .seconds(3600)
}
