/// Every bound LogStore enforces, in one place (TigerStyle: "put a limit on everything").
///
/// Inputs arrive from the Raft driver, which in turn receives them from peers, so each size is
/// checked before anything is written: an oversized batch is refused with
/// `LogStoreError.limitExceeded` instead of growing a transaction without bound.
public enum Limits {
    /// Largest opaque payload of one log entry. Events are small; 4 MiB leaves room for a
    /// configuration change carrying many members.
    public static let entryPayloadBytesMax = 4 << 20
    /// Most entries in one append or group-commit batch.
    public static let batchEntriesMax = 65_536
    /// Most payload and projection bytes in one batch (keeps one transaction's dirty pages bounded).
    public static let batchBytesMax = 64 << 20
    /// Most projection writes in one batch.
    public static let batchProjectionWritesMax = 262_144
    /// LMDB's compiled-in maximum key size (`mdb_env_get_maxkeysize`, 511 by default).
    public static let projectionKeyBytesMax = 511
    /// Largest projection value.
    public static let projectionValueBytesMax = 16 << 20
    /// Longest projection table name, in bytes.
    public static let tableNameBytesMax = 64
    /// Most projection tables; LMDB needs the number of named databases up front.
    public static let projectionTablesMax = 60
    /// Named databases LogStore itself uses: log, hardstate, snapshot, meta.
    static let internalTablesCount = 4
    /// Largest Raft configuration blob stored with a snapshot.
    public static let snapshotConfigurationBytesMax = 1 << 20
    /// Largest snapshot data blob (one LMDB value; the map must also have room for it).
    public static let snapshotDataBytesMax = 512 << 20
    /// Most issues `verify()` collects before it stops listing them (the first ones matter).
    public static let verifyIssuesMax = 1_000
    /// Free space below which an EIO from a commit is taken for a full disk (see `LogStore.write`).
    public static let diskFullSlackBytes = 1 << 20
    /// Smallest map size accepted; LMDB needs a few pages for its own trees.
    public static let mapSizeBytesMin = 64 << 10
}
