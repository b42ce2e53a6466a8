/// Where a server keeps its files under `data_dir`.
public enum DataDirectory {
    /// The LMDB environment holding the Raft log, hard state, snapshots and projection tables.
    public static func logStore(_ dataDir: String) -> String { dataDir + "/log" }
    /// The names of a static cluster's members, written when its log is created
    /// (`ClusterMembership.checkRecorded`).
    public static func clusterMembers(_ dataDir: String) -> String { dataDir + "/cluster-members" }
    /// Every member the log has named, with addresses (`MemberRegistry`).
    public static func clusterRegistry(_ dataDir: String) -> String { dataDir + "/cluster-registry.json" }
}
