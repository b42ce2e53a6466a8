import SPIFFE

/// An agent proved its identity through a node attestor and was issued an agent SVID. Also
/// recorded for re-attestation, which replaces the agent's selectors and serial.
public struct AgentAttested: Hashable, Sendable {
    public var agentID: SPIFFEID
    /// The node attestor's name (`join_token`, `x509pop`).
    public var attestationType: String
    public var selectors: [Selector]
    public var serialNumber: CertificateSerialNumber
    public var notAfter: Timestamp
    public var canReattest: Bool

    public init(
        agentID: SPIFFEID, attestationType: String, selectors: [Selector],
        serialNumber: CertificateSerialNumber, notAfter: Timestamp, canReattest: Bool
    ) {
        self.agentID = agentID
        self.attestationType = attestationType
        self.selectors = selectors
        self.serialNumber = serialNumber
        self.notAfter = notAfter
        self.canReattest = canReattest
    }

    /// Checks the attestor name's alphabet and the selector bound.
    func validate() throws(ValidationError) {
        try TextRule.check(
            attestationType, field: "attestation_type", maxBytes: Limits.attestationTypeBytesMax,
            allowed: TextRule.isNameByte)
        if selectors.count > Limits.selectorsPerAgentMax {
            throw ValidationError(field: "selectors", .tooMany(max: Limits.selectorsPerAgentMax))
        }
    }
}

/// An agent renewed its SVID. The new serial is pending: the old one stays valid until the agent
/// first presents the new one (`AgentRenewalActivated`), as in SPIRE.
public struct AgentRenewed: Hashable, Sendable {
    public var agentID: SPIFFEID
    public var serialNumber: CertificateSerialNumber
    public var notAfter: Timestamp

    public init(agentID: SPIFFEID, serialNumber: CertificateSerialNumber, notAfter: Timestamp) {
        self.agentID = agentID
        self.serialNumber = serialNumber
        self.notAfter = notAfter
    }
}

/// The agent presented its pending SVID for the first time; it replaces the previous one.
public struct AgentRenewalActivated: Hashable, Sendable {
    public var agentID: SPIFFEID
    public var serialNumber: CertificateSerialNumber

    public init(agentID: SPIFFEID, serialNumber: CertificateSerialNumber) {
        self.agentID = agentID
        self.serialNumber = serialNumber
    }
}

/// An admin banned the agent: its SVIDs are refused until it attests again.
public struct AgentBanned: Hashable, Sendable {
    public var agentID: SPIFFEID
    public init(agentID: SPIFFEID) { self.agentID = agentID }
}

/// An admin evicted the agent: its record is deleted and it may attest again.
public struct AgentEvicted: Hashable, Sendable {
    public var agentID: SPIFFEID
    public init(agentID: SPIFFEID) { self.agentID = agentID }
}
