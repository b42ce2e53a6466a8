import SPIFFE

/// An agent asks for an X509-SVID for an entry (`BatchNewX509SVID`). The server checks the entry
/// is authorized for the agent, signs the CSR's key, and records `X509SVIDIssued`.
public struct IssueX509SVID: Hashable, Sendable {
    public var entryID: RegistrationEntryID
    public var requestingAgentID: SPIFFEID
    /// SHA-256 of the CSR's SubjectPublicKeyInfo DER.
    public var publicKeySHA256: SHA256Digest

    public init(entryID: RegistrationEntryID, requestingAgentID: SPIFFEID, publicKeySHA256: SHA256Digest) {
        self.entryID = entryID
        self.requestingAgentID = requestingAgentID
        self.publicKeySHA256 = publicKeySHA256
    }
}

/// An agent asks for a JWT-SVID for an entry (`NewJWTSVID`).
public struct IssueJWTSVID: Hashable, Sendable {
    public var entryID: RegistrationEntryID
    public var requestingAgentID: SPIFFEID
    public var audience: [String]

    public init(entryID: RegistrationEntryID, requestingAgentID: SPIFFEID, audience: [String]) {
        self.entryID = entryID
        self.requestingAgentID = requestingAgentID
        self.audience = audience
    }
}
