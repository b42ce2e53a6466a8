import SPIFFE

/// Record a completed node attestation. The agent API runs the attestor's challenge exchange
/// and signs the agent SVID; the leader then checks the agent is not banned and, for a join
/// token, that the token is unexpired and unused, and appends the events.
public struct AttestAgent: Hashable, Sendable {
    public var agentID: SPIFFEID
    public var attestationType: String
    public var selectors: [Selector]
    public var serialNumber: CertificateSerialNumber
    public var notAfter: Timestamp
    public var canReattest: Bool
    /// The hash of the join token presented, when the attestor is `join_token`.
    public var joinTokenSHA256: SHA256Digest?

    public init(
        agentID: SPIFFEID, attestationType: String, selectors: [Selector],
        serialNumber: CertificateSerialNumber, notAfter: Timestamp, canReattest: Bool,
        joinTokenSHA256: SHA256Digest? = nil
    ) {
        self.agentID = agentID
        self.attestationType = attestationType
        self.selectors = selectors
        self.serialNumber = serialNumber
        self.notAfter = notAfter
        self.canReattest = canReattest
        self.joinTokenSHA256 = joinTokenSHA256
    }
}

/// Record a renewed agent SVID, pending until first use.
public struct RenewAgent: Hashable, Sendable {
    public var agentID: SPIFFEID
    public var serialNumber: CertificateSerialNumber
    public var notAfter: Timestamp

    public init(agentID: SPIFFEID, serialNumber: CertificateSerialNumber, notAfter: Timestamp) {
        self.agentID = agentID
        self.serialNumber = serialNumber
        self.notAfter = notAfter
    }
}

/// Make the agent's pending SVID its active one: it was just presented.
public struct ActivateAgentRenewal: Hashable, Sendable {
    public var agentID: SPIFFEID
    public var serialNumber: CertificateSerialNumber

    public init(agentID: SPIFFEID, serialNumber: CertificateSerialNumber) {
        self.agentID = agentID
        self.serialNumber = serialNumber
    }
}

/// Ban an agent (`agent ban`).
public struct BanAgent: Hashable, Sendable {
    public var agentID: SPIFFEID
    public init(agentID: SPIFFEID) { self.agentID = agentID }
}

/// Evict an agent (`agent evict`).
public struct EvictAgent: Hashable, Sendable {
    public var agentID: SPIFFEID
    public init(agentID: SPIFFEID) { self.agentID = agentID }
}
