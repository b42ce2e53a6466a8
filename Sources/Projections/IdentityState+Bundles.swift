import IdentityModel
import SPIFFE

/// The trust bundle of the own trust domain, as the union of every server's live authorities.
public struct TrustBundleView: Hashable, Sendable {
    /// One X.509 CA certificate in the bundle.
    public struct X509Authority: Hashable, Sendable {
        public var reference: AuthorityReference
        public var certificateDER: [UInt8]
        /// Agents rotate SVIDs it signed (SPIRE's `tainted` flag on bundle authorities).
        public var tainted: Bool
    }

    /// One JWT public key in the bundle.
    public struct JWTAuthority: Hashable, Sendable {
        public var reference: AuthorityReference
        public var publicKeyDER: [UInt8]
        public var expiresAt: Timestamp
        public var tainted: Bool
    }

    /// Increases on every change of content; agents and federation peers compare it.
    public var sequenceNumber: UInt64
    /// Sorted by server, then authority ID.
    public var x509Authorities: [X509Authority]
    public var jwtAuthorities: [JWTAuthority]
}

extension IdentityState {
    /// Every prepared, active or old authority of every server that is not revoked.
    public var ownBundle: TrustBundleView {
        let x509 = x509Authorities.values.filter { !$0.revoked }.sorted { Self.precedes($0.reference, $1.reference) }
        let jwt = jwtAuthorities.values.filter { !$0.revoked }.sorted { Self.precedes($0.reference, $1.reference) }
        return TrustBundleView(
            sequenceNumber: bundleSequenceNumber,
            x509Authorities: Self.bundleCertificates(x509),
            jwtAuthorities: jwt.map {
                .init(
                    reference: $0.reference, publicKeyDER: $0.descriptor.publicKeyDER,
                    expiresAt: $0.descriptor.notAfter, tainted: $0.tainted)
            })
    }

    /// One bundle certificate per distinct DER: upstream-signed authorities share their upstream
    /// roots, which appear once. Tainting an upstream-signed authority does not taint the root:
    /// the suspected key is the server's, not the upstream's.
    static func bundleCertificates(_ records: [X509AuthorityRecord]) -> [TrustBundleView.X509Authority] {
        var certificates: [TrustBundleView.X509Authority] = []
        var seen: Set<[UInt8]> = []
        for record in records {
            let tainted = record.tainted && record.descriptor.upstreamAuthorityID == nil
            for der in record.descriptor.bundleCertificatesDER where seen.insert(der).inserted {
                certificates.append(.init(reference: record.reference, certificateDER: der, tainted: tainted))
            }
        }
        return certificates
    }

    /// The active X.509 authority of `server`, the one it signs with; nil between rotations.
    public func activeX509Authority(of server: NodeName) -> X509AuthorityRecord? {
        x509Authorities.values.first { $0.reference.serverNodeName == server && $0.phase == .active }
    }

    /// The active JWT authority of `server`.
    public func activeJWTAuthority(of server: NodeName) -> JWTAuthorityRecord? {
        jwtAuthorities.values.first { $0.reference.serverNodeName == server && $0.phase == .active }
    }

    static func precedes(_ lhs: AuthorityReference, _ rhs: AuthorityReference) -> Bool {
        (lhs.serverNodeName, lhs.authorityID) < (rhs.serverNodeName, rhs.authorityID)
    }
}
