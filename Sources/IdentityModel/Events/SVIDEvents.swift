import SPIFFE

/// An X509-SVID was signed. Recorded so auditors can answer "who held which identity when, and
/// who decided it": fingerprints and metadata only — the private key stays with the workload
/// and the certificate itself is public but large, so its SHA-256 stands in for it.
public struct X509SVIDIssued: Hashable, Sendable {
    public var serialNumber: CertificateSerialNumber
    public var spiffeID: SPIFFEID
    /// The entry that authorized it; nil for an agent's own SVID.
    public var entryID: RegistrationEntryID?
    /// The agent that asked for it; nil when no agent did (an agent SVID at attestation).
    public var requestingAgentID: SPIFFEID?
    /// The server that signed, and with which of its authorities.
    public var issuer: AuthorityReference
    public var notBefore: Timestamp
    public var notAfter: Timestamp
    /// SHA-256 of the certificate's SubjectPublicKeyInfo DER.
    public var publicKeySHA256: SHA256Digest
    /// SHA-256 of the whole certificate DER.
    public var certificateSHA256: SHA256Digest

    public init(
        serialNumber: CertificateSerialNumber, spiffeID: SPIFFEID, entryID: RegistrationEntryID?,
        requestingAgentID: SPIFFEID?, issuer: AuthorityReference, notBefore: Timestamp,
        notAfter: Timestamp, publicKeySHA256: SHA256Digest, certificateSHA256: SHA256Digest
    ) {
        self.serialNumber = serialNumber
        self.spiffeID = spiffeID
        self.entryID = entryID
        self.requestingAgentID = requestingAgentID
        self.issuer = issuer
        self.notBefore = notBefore
        self.notAfter = notAfter
        self.publicKeySHA256 = publicKeySHA256
        self.certificateSHA256 = certificateSHA256
    }
}

/// A JWT-SVID was signed. The token is a bearer credential and is never recorded.
public struct JWTSVIDIssued: Hashable, Sendable {
    public var spiffeID: SPIFFEID
    public var audience: [String]
    public var expiresAt: Timestamp
    /// The signing server and the `kid` of its JWT authority.
    public var issuer: AuthorityReference
    public var entryID: RegistrationEntryID?
    public var requestingAgentID: SPIFFEID?

    public init(
        spiffeID: SPIFFEID, audience: [String], expiresAt: Timestamp, issuer: AuthorityReference,
        entryID: RegistrationEntryID?, requestingAgentID: SPIFFEID?
    ) {
        self.spiffeID = spiffeID
        self.audience = audience
        self.expiresAt = expiresAt
        self.issuer = issuer
        self.entryID = entryID
        self.requestingAgentID = requestingAgentID
    }

    /// A JWT-SVID needs at least one audience (JWT-SVID.md §3), each bounded, none empty.
    func validate() throws(ValidationError) {
        if audience.isEmpty { throw ValidationError(field: "audience", .empty) }
        if audience.count > Limits.audiencesPerJWTSVIDMax {
            throw ValidationError(field: "audience", .tooMany(max: Limits.audiencesPerJWTSVIDMax))
        }
        for (index, value) in audience.enumerated() {
            try TextRule.check(
                value, field: "audience[\(index)]", maxBytes: Limits.audienceBytesMax,
                allowed: TextRule.isNotControl)
        }
    }
}
