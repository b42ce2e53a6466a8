/// Publish a server's new X.509 CA (its rotation schedule or `localauthority x509 prepare`).
public struct PrepareX509Authority: Hashable, Sendable {
    public var authority: X509AuthorityDescriptor
    public init(authority: X509AuthorityDescriptor) { self.authority = authority }
}

/// Start signing with a prepared X.509 CA.
public struct ActivateX509Authority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// Mark an X.509 CA as compromised so its SVIDs are rotated.
public struct TaintX509Authority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// Remove a tainted X.509 CA from the bundle.
public struct RevokeX509Authority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// Publish a server's new JWT key.
public struct PrepareJWTAuthority: Hashable, Sendable {
    public var authority: JWTAuthorityDescriptor
    public init(authority: JWTAuthorityDescriptor) { self.authority = authority }
}

/// Start signing with a prepared JWT key.
public struct ActivateJWTAuthority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// Mark a JWT key as compromised.
public struct TaintJWTAuthority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}

/// Remove a tainted JWT key from the bundle.
public struct RevokeJWTAuthority: Hashable, Sendable {
    public var authority: AuthorityReference
    public init(authority: AuthorityReference) { self.authority = authority }
}
