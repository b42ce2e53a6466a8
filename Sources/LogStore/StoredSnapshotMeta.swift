/// Where a snapshot sits in the log, plus the cluster configuration in force at that point
/// (opaque bytes the Raft driver encodes).
public struct StoredSnapshotMeta: Equatable, Hashable, Sendable {
    /// Last log index the snapshot covers.
    public var index: UInt64
    /// Term of the entry at `index`.
    public var term: UInt64
    /// Encoded Raft configuration, at most `Limits.snapshotConfigurationBytesMax`.
    public var configuration: [UInt8]

    public init(index: UInt64, term: UInt64, configuration: [UInt8]) {
        self.index = index
        self.term = term
        self.configuration = configuration
    }
}
