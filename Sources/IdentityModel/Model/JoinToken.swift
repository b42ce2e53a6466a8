/// A one-time join token, as the log knows it: its SHA-256 and when it expires.
///
/// The token string itself is a bearer secret. It is returned once to the admin who created it
/// and never enters the replicated log; the server hashes what an agent presents and looks the
/// hash up. Tokens are UUIDs (122 random bits), so the hash cannot be reversed by guessing.
public struct JoinToken: Hashable, Sendable {
    public var tokenSHA256: SHA256Digest
    public var expiresAt: Timestamp

    public init(tokenSHA256: SHA256Digest, expiresAt: Timestamp) {
        self.tokenSHA256 = tokenSHA256
        self.expiresAt = expiresAt
    }
}
