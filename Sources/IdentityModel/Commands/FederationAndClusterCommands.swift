import SPIFFE

/// Set a federated trust domain's bundle (`bundle set`, or a bundle endpoint refresh).
public struct SetFederatedBundle: Hashable, Sendable {
    public var bundle: FederatedBundle
    public init(bundle: FederatedBundle) { self.bundle = bundle }
}

/// Delete a federated trust domain's bundle (`bundle delete`).
public struct DeleteFederatedBundle: Hashable, Sendable {
    public var trustDomain: TrustDomain
    public init(trustDomain: TrustDomain) { self.trustDomain = trustDomain }
}

/// Add a server to the cluster (`cluster join`).
public struct AddClusterMember: Hashable, Sendable {
    public var nodeName: NodeName
    public var address: String

    public init(nodeName: NodeName, address: String) {
        self.nodeName = nodeName
        self.address = address
    }
}

/// Remove a server from the cluster (`cluster leave`).
public struct RemoveClusterMember: Hashable, Sendable {
    public var nodeName: NodeName
    public init(nodeName: NodeName) { self.nodeName = nodeName }
}
