import SPIFFE

/// What the control plane knows about one attested agent (SPIRE's `AttestedNode`): the state a
/// projection folds from `AgentAttested`, `AgentRenewed`, `AgentRenewalActivated`,
/// `AgentBanned` and `AgentEvicted`.
public struct AgentRecord: Hashable, Sendable {
    public var spiffeID: SPIFFEID
    /// The node attestor that vouched for it (`join_token`, `x509pop`).
    public var attestationType: String
    public var selectors: [Selector]
    /// The agent SVID currently accepted.
    public var serialNumber: CertificateSerialNumber
    public var notAfter: Timestamp
    /// A renewed SVID not yet presented. SPIRE keeps accepting the old serial until the agent
    /// first uses the new one, so a renewal lost in transit does not lock the agent out.
    public var pendingSerialNumber: CertificateSerialNumber?
    public var pendingNotAfter: Timestamp?
    /// The attestor allows attesting again with fresh evidence (SPIRE's `can_reattest`).
    public var canReattest: Bool
    /// A banned agent keeps its record but no SVID of it is accepted until it re-attests
    /// (`agent ban`; join-token agents cannot).
    public var banned: Bool

    public init(
        spiffeID: SPIFFEID,
        attestationType: String,
        selectors: [Selector],
        serialNumber: CertificateSerialNumber,
        notAfter: Timestamp,
        pendingSerialNumber: CertificateSerialNumber? = nil,
        pendingNotAfter: Timestamp? = nil,
        canReattest: Bool,
        banned: Bool = false
    ) {
        self.spiffeID = spiffeID
        self.attestationType = attestationType
        self.selectors = selectors
        self.serialNumber = serialNumber
        self.notAfter = notAfter
        self.pendingSerialNumber = pendingSerialNumber
        self.pendingNotAfter = pendingNotAfter
        self.canReattest = canReattest
        self.banned = banned
    }
}
