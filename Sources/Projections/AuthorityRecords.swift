import IdentityModel

/// Where an authority is in SPIRE's rotation: published first, then signing, then retired.
///
/// Taint and revocation are separate flags because SPIRE only lets an operator taint a retired
/// (`old`) authority and only revoke a tainted one, and the journal keeps the phase it had.
public enum AuthorityPhase: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// In every bundle, not yet signing.
    case prepared = 1
    /// The server signs with it.
    case active = 2
    /// Replaced by a newer active authority; still in bundles so earlier SVIDs verify.
    case old = 3

    public var description: String {
        switch self {
        case .prepared: "prepared"
        case .active: "active"
        case .old: "old"
        }
    }
}

/// One X.509 CA in the CA journal.
public struct X509AuthorityRecord: Hashable, Sendable {
    public var descriptor: X509AuthorityDescriptor
    public var phase: AuthorityPhase
    /// Suspected compromised: agents rotate what it signed; it stays in bundles until revoked.
    public var tainted: Bool
    /// Removed from every bundle. Kept in the journal so history shows it.
    public var revoked: Bool

    public init(descriptor: X509AuthorityDescriptor, phase: AuthorityPhase, tainted: Bool = false, revoked: Bool = false) {
        self.descriptor = descriptor
        self.phase = phase
        self.tainted = tainted
        self.revoked = revoked
    }

    public var reference: AuthorityReference { descriptor.reference }
}

/// One JWT signing key in the CA journal; same lifecycle as an X.509 authority.
public struct JWTAuthorityRecord: Hashable, Sendable {
    public var descriptor: JWTAuthorityDescriptor
    public var phase: AuthorityPhase
    public var tainted: Bool
    public var revoked: Bool

    public init(descriptor: JWTAuthorityDescriptor, phase: AuthorityPhase, tainted: Bool = false, revoked: Bool = false) {
        self.descriptor = descriptor
        self.phase = phase
        self.tainted = tainted
        self.revoked = revoked
    }

    public var reference: AuthorityReference { descriptor.reference }
}
