/// A server joined the cluster (`cluster join`). Membership changes are log entries like any
/// other decision, so every server agrees on who votes at every index.
public struct ClusterMemberAdded: Hashable, Sendable {
    public var nodeName: NodeName
    /// Where peers reach it for consensus traffic, `host:port`.
    public var address: String

    public init(nodeName: NodeName, address: String) {
        self.nodeName = nodeName
        self.address = address
    }

    /// The address must be `host:port`-shaped: visible ASCII, bounded, with a colon.
    func validate() throws(ValidationError) {
        try TextRule.check(
            address, field: "address", maxBytes: Limits.clusterAddressBytesMax,
            allowed: TextRule.isVisibleASCII)
        if !address.utf8.contains(UInt8(ascii: ":")) {
            throw ValidationError(field: "address", .missingSeparator)
        }
    }
}

/// A server left the cluster (`cluster leave`).
public struct ClusterMemberRemoved: Hashable, Sendable {
    public var nodeName: NodeName
    public init(nodeName: NodeName) { self.nodeName = nodeName }
}
