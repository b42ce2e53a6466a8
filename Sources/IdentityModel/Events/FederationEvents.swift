import SPIFFE

/// A federated trust domain's bundle was set (`bundle set`, or a refresh from its bundle
/// endpoint), replacing any earlier one completely.
public struct FederatedBundleSet: Hashable, Sendable {
    public var bundle: FederatedBundle
    public init(bundle: FederatedBundle) { self.bundle = bundle }
}

/// A federated trust domain's bundle was deleted.
public struct FederatedBundleDeleted: Hashable, Sendable {
    public var trustDomain: TrustDomain
    public init(trustDomain: TrustDomain) { self.trustDomain = trustDomain }
}
