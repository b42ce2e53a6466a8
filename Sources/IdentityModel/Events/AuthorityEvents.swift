/// A server generated (or obtained from upstream) a new X.509 CA and published its certificate,
/// so every trust bundle includes it before anything is signed with it (SPIRE's "prepared").
public struct X509AuthorityPrepared: Hashable, Sendable {
    public var authority: X509AuthorityDescriptor
    public init(authority: X509AuthorityDescriptor) { self.authority = authority }
}

/// The server now signs X509-SVIDs with this authority.
public struct X509AuthorityActivated: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// The authority is suspected compromised: agents rotate every SVID it signed, and it stays in
/// bundles until revoked.
public struct X509AuthorityTainted: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// The authority was removed from every bundle; SVIDs it signed no longer verify.
public struct X509AuthorityRevoked: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// A server prepared a new JWT signing key and published its public key.
public struct JWTAuthorityPrepared: Hashable, Sendable {
    public var authority: JWTAuthorityDescriptor
    public init(authority: JWTAuthorityDescriptor) { self.authority = authority }
}

/// The server now signs JWT-SVIDs with this key.
public struct JWTAuthorityActivated: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// The key is suspected compromised; workloads fetch new JWT-SVIDs.
public struct JWTAuthorityTainted: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// The key was removed from every bundle.
public struct JWTAuthorityRevoked: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}
