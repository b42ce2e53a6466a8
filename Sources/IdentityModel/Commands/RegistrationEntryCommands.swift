import SPIFFE

/// Register an entry (`entry create`). The leader mints the ID unless `id` is given, and stamps
/// `createdAt` and revision 0.
public struct CreateRegistrationEntry: Hashable, Sendable {
    public var id: RegistrationEntryID?
    public var spiffeID: SPIFFEID
    public var parentID: SPIFFEID
    public var selectors: [Selector]
    public var x509SVIDTTLSeconds: Int32
    public var jwtSVIDTTLSeconds: Int32
    public var federatesWith: [TrustDomain]
    public var admin: Bool
    public var downstream: Bool
    public var expiresAt: Timestamp?
    public var dnsNames: [String]
    public var hint: String

    public init(
        id: RegistrationEntryID? = nil, spiffeID: SPIFFEID, parentID: SPIFFEID, selectors: [Selector],
        x509SVIDTTLSeconds: Int32 = 0, jwtSVIDTTLSeconds: Int32 = 0, federatesWith: [TrustDomain] = [],
        admin: Bool = false, downstream: Bool = false, expiresAt: Timestamp? = nil,
        dnsNames: [String] = [], hint: String = ""
    ) {
        self.id = id
        self.spiffeID = spiffeID
        self.parentID = parentID
        self.selectors = selectors
        self.x509SVIDTTLSeconds = x509SVIDTTLSeconds
        self.jwtSVIDTTLSeconds = jwtSVIDTTLSeconds
        self.federatesWith = federatesWith
        self.admin = admin
        self.downstream = downstream
        self.expiresAt = expiresAt
        self.dnsNames = dnsNames
        self.hint = hint
    }
}

/// Replace an entry's fields (`entry update`). `revisionNumber` and `createdAt` in `entry` are
/// ignored: the leader keeps `createdAt` and increments the revision. When
/// `expectedRevisionNumber` is set, the update applies only if the entry is still at it.
public struct UpdateRegistrationEntry: Hashable, Sendable {
    public var entry: RegistrationEntry
    public var expectedRevisionNumber: Int64?

    public init(entry: RegistrationEntry, expectedRevisionNumber: Int64? = nil) {
        self.entry = entry
        self.expectedRevisionNumber = expectedRevisionNumber
    }
}

/// Delete an entry (`entry delete`).
public struct DeleteRegistrationEntry: Hashable, Sendable {
    public var entryID: RegistrationEntryID
    public init(entryID: RegistrationEntryID) { self.entryID = entryID }
}

/// Generate a join token (`token generate -ttl`). The server mints the token, returns it to the
/// caller once and appends only its hash. With `nodeAliasID` (`-spiffeID`) it also registers an
/// entry aliasing the agent that will use the token.
public struct CreateJoinToken: Hashable, Sendable {
    public var ttlSeconds: Int64
    public var nodeAliasID: SPIFFEID?

    public init(ttlSeconds: Int64, nodeAliasID: SPIFFEID? = nil) {
        self.ttlSeconds = ttlSeconds
        self.nodeAliasID = nodeAliasID
    }
}
