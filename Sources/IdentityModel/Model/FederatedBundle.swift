import SPIFFE

/// The trust bundle of a foreign trust domain we federate with, as public DER material.
///
/// Stored unparsed: the server verifies the certificates and keys with the `SPIFFE` module
/// before it proposes the event, and the log keeps the exact bytes it accepted.
public struct FederatedBundle: Hashable, Sendable {
    public var trustDomain: TrustDomain
    /// CA certificates, DER, one per element.
    public var x509AuthoritiesDER: [[UInt8]]
    public var jwtAuthorities: [JWTKey]
    /// How often to refresh, from the bundle's `spiffe_refresh_hint`; 0 means unspecified.
    public var refreshHintSeconds: Int64
    /// The bundle's `spiffe_sequence`.
    public var sequenceNumber: UInt64

    public init(
        trustDomain: TrustDomain, x509AuthoritiesDER: [[UInt8]], jwtAuthorities: [JWTKey] = [],
        refreshHintSeconds: Int64 = 0, sequenceNumber: UInt64 = 0
    ) {
        self.trustDomain = trustDomain
        self.x509AuthoritiesDER = x509AuthoritiesDER
        self.jwtAuthorities = jwtAuthorities
        self.refreshHintSeconds = refreshHintSeconds
        self.sequenceNumber = sequenceNumber
    }
}

/// One JWT signing key of a bundle (SPIRE's `types.JWTKey`).
public struct JWTKey: Hashable, Sendable {
    public var keyID: AuthorityID
    /// PKIX SubjectPublicKeyInfo, DER.
    public var publicKeyDER: [UInt8]
    public var expiresAt: Timestamp?

    public init(keyID: AuthorityID, publicKeyDER: [UInt8], expiresAt: Timestamp? = nil) {
        self.keyID = keyID
        self.publicKeyDER = publicKeyDER
        self.expiresAt = expiresAt
    }
}
