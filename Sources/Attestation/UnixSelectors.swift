/// SPIRE's `unix` workload attestor selectors (plugin_agent_workloadattestor_unix.md), derived
/// from what the runtime read about the calling process. User and group names are looked up by
/// the runtime and passed in; a missing name simply produces no name selector.
public struct UnixProcessFacts: Sendable, Hashable {
    public var status: ProcStatus
    public var userName: String?
    public var groupName: String?
    /// Names of the supplementary groups, keyed by GID.
    public var supplementaryGroupNames: [UInt32: String]
    /// `readlink /proc/<pid>/exe`, when `discover_workload_path` is on.
    public var executablePath: String?
    /// Lowercase hex SHA-256 of the running executable, when hashing is on and within the limit.
    public var executableSHA256: String?

    public init(status: ProcStatus, userName: String? = nil, groupName: String? = nil,
                supplementaryGroupNames: [UInt32: String] = [:], executablePath: String? = nil,
                executableSHA256: String? = nil) {
        self.status = status
        self.userName = userName
        self.groupName = groupName
        self.supplementaryGroupNames = supplementaryGroupNames
        self.executablePath = executablePath
        self.executableSHA256 = executableSHA256
    }
}

public enum UnixSelectors {
    public static let type = "unix"

    /// `(type, value)` pairs in a stable order: uid, user, gid, group, supplementary gids and
    /// groups (ascending GID), path, sha256. IDs are the **effective** ones, as SPIRE uses.
    public static func selectors(for facts: UnixProcessFacts) -> [(type: String, value: String)] {
        var values = ["uid:\(facts.status.effectiveUID)"]
        if let user = facts.userName { values.append("user:\(user)") }
        values.append("gid:\(facts.status.effectiveGID)")
        if let group = facts.groupName { values.append("group:\(group)") }
        for gid in Set(facts.status.groups).sorted() {
            values.append("supplementary_gid:\(gid)")
            if let name = facts.supplementaryGroupNames[gid] { values.append("supplementary_group:\(name)") }
        }
        if let path = facts.executablePath { values.append("path:\(path)") }
        if let digest = facts.executableSHA256 { values.append("sha256:\(digest)") }
        return values.map { (type, $0) }
    }
}
