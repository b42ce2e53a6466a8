import SPIFFE

/// A join token was generated (`token generate`). Only its hash is recorded; see `JoinToken`.
public struct JoinTokenCreated: Hashable, Sendable {
    public var token: JoinToken
    public init(token: JoinToken) { self.token = token }
}

/// An agent attested with a join token; the token can never be used again.
public struct JoinTokenConsumed: Hashable, Sendable {
    public var tokenSHA256: SHA256Digest
    public var agentID: SPIFFEID

    public init(tokenSHA256: SHA256Digest, agentID: SPIFFEID) {
        self.tokenSHA256 = tokenSHA256
        self.agentID = agentID
    }
}
