/// Names one authority of one server: enough to activate, taint or revoke it.
public struct AuthorityReference: Hashable, Sendable, CustomStringConvertible {
    public var serverNodeName: NodeName
    public var authorityID: AuthorityID

    public init(serverNodeName: NodeName, authorityID: AuthorityID) {
        self.serverNodeName = serverNodeName
        self.authorityID = authorityID
    }

    public var description: String { "\(authorityID)@\(serverNodeName)" }
}

/// An X.509 CA a server prepared: public material only. Each server holds its own CA key
/// (DESIGN.md, "One authority per server"); the private key never leaves that server.
public struct X509AuthorityDescriptor: Hashable, Sendable {
    public var reference: AuthorityReference
    /// The CA certificate, DER.
    public var certificateDER: [UInt8]
    public var notAfter: Timestamp
    /// The upstream authority that signed it; nil when self-signed.
    public var upstreamAuthorityID: AuthorityID?
    /// Upstream-signed only: the certificates between this CA and the upstream roots, nearest
    /// first. Every SVID it signs carries the CA and then these after its leaf.
    public var upstreamChainDER: [[UInt8]]
    /// Upstream-signed only: the upstream roots, which stand in the trust bundle instead of the
    /// CA itself (SPIRE's `UpstreamAuthority` with the upstream bundle).
    public var upstreamRootsDER: [[UInt8]]

    public init(
        reference: AuthorityReference, certificateDER: [UInt8], notAfter: Timestamp,
        upstreamAuthorityID: AuthorityID? = nil, upstreamChainDER: [[UInt8]] = [], upstreamRootsDER: [[UInt8]] = []
    ) {
        self.reference = reference
        self.certificateDER = certificateDER
        self.notAfter = notAfter
        self.upstreamAuthorityID = upstreamAuthorityID
        self.upstreamChainDER = upstreamChainDER
        self.upstreamRootsDER = upstreamRootsDER
    }

    /// The certificates this authority puts in the trust bundle: its upstream roots when an
    /// upstream signed it, itself otherwise.
    public var bundleCertificatesDER: [[UInt8]] {
        upstreamAuthorityID == nil ? [certificateDER] : upstreamRootsDER
    }
}

/// A JWT signing key a server prepared; its authority ID is the key's `kid`.
public struct JWTAuthorityDescriptor: Hashable, Sendable {
    public var reference: AuthorityReference
    /// PKIX SubjectPublicKeyInfo, DER.
    public var publicKeyDER: [UInt8]
    public var notAfter: Timestamp

    public init(reference: AuthorityReference, publicKeyDER: [UInt8], notAfter: Timestamp) {
        self.reference = reference
        self.publicKeyDER = publicKeyDER
        self.notAfter = notAfter
    }
}
