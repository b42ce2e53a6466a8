/// Every bound the Projections module enforces, in one place.
///
/// State grows only through events, and events come from the replicated log, so each bound is
/// checked at apply time and turns an event that would exceed it into a deterministic
/// rejection: every replica refuses the same event at the same index.
public enum Limits {
    /// Registration entries held at once (SPIRE deployments reach the low hundreds of thousands).
    public static let registrationEntriesMax = 1_000_000
    /// Attested agents held at once.
    public static let agentsMax = 1_000_000
    /// Unexpired join tokens held at once; expired ones are pruned when a new token is created.
    public static let joinTokensMax = 100_000
    /// Live (not revoked) X.509 or JWT authorities per server. Rotation keeps three (prepared,
    /// active, old); expired old ones are pruned when the server prepares a new one.
    public static let liveAuthoritiesPerServerMax = 16
    /// Federated trust domains.
    public static let federatedBundlesMax = 1024
    /// Servers in the cluster.
    public static let clusterMembersMax = 64

    /// SPIFFE IDs one agent may hold through node aliases and entries while authorization
    /// crawls the parent graph. The visited set already ends cycles; this bounds the work a
    /// pathological registration graph can cause per request.
    public static let authorizationHeldIDsMax = 100_000
    /// Entries one agent may be authorized for; the crawl stops at this many.
    public static let authorizedEntriesMax = 100_000
}
