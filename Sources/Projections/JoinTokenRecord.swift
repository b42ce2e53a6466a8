import IdentityModel
import SPIFFE

/// A join token as the projection tracks it: the token plus whether it was spent, and by whom.
///
/// A consumed token is kept (until it expires and is pruned) so a second consume is refused
/// as "already consumed" rather than "unknown", which is what an operator needs to see.
public struct JoinTokenRecord: Hashable, Sendable {
    public var token: JoinToken
    /// The agent that attested with it; nil while unused.
    public var consumedBy: SPIFFEID?

    public init(token: JoinToken, consumedBy: SPIFFEID? = nil) {
        self.token = token
        self.consumedBy = consumedBy
    }

    public var isConsumed: Bool { consumedBy != nil }
}

/// A server of the cluster and where its peers reach it.
public struct ClusterMember: Hashable, Sendable {
    public var nodeName: NodeName
    /// `host:port` for consensus traffic.
    public var address: String

    public init(nodeName: NodeName, address: String) {
        self.nodeName = nodeName
        self.address = address
    }
}
