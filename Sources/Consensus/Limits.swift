/// Every bound the consensus core enforces, in one place (TigerStyle: "put a limit on
/// everything"). Byte limits keep a message well under gRPC's 4 MiB default receive limit.
public enum Limits {
    /// The most bytes of entries one append message carries (at least one entry is always sent).
    public static let appendBatchBytesMax = 1 << 20
    /// The most entries one append message carries.
    public static let appendBatchEntriesMax = 256
    /// The most append messages in flight to one follower before the leader waits for acks.
    public static let inflightAppendsMax = 64
    /// The most bytes of committed entries handed to the application in one `Ready`.
    public static let committedEntriesBytesMax = 4 << 20
    /// The most bytes of proposals a leader accepts beyond its commit index (back-pressure).
    public static let uncommittedBytesMax = 16 << 20
    /// The largest payload a single proposal may carry.
    public static let proposalBytesMax = 1 << 20
    /// The bytes counted for an entry besides its payload, for the limits above.
    public static let entryOverheadBytes = 32
    /// The most ReadIndex requests a leader keeps waiting for confirmation.
    public static let pendingReadsMax = 1024
    /// The most entries a decoded message may contain.
    public static let messageEntriesMax = 4096
    /// The largest encoded message or entry the codec accepts (snapshots included).
    public static let encodedMessageBytesMax = 64 << 20
    /// The most voters a configuration may have.
    public static let votersMax = 64
    /// The most bytes of opaque context a configuration change carries (a member record).
    public static let configurationContextBytesMax = 4096
    /// The most client sessions the deduplication table remembers.
    public static let clientSessionsMax = 4096
}
