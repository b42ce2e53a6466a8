import Agent
import Authority
import Crypto
import Foundation
import SPIFFE
import X509

/// A real CA for one trust domain (swift-certificates via `Authority`), minting X509-SVIDs and
/// holding a JWT signing key, for endpoint tests.
struct TestAuthority: Sendable {
    let trustDomain: TrustDomain
    let signing: SigningAuthority
    let jwtKey: P256.Signing.PrivateKey
    let jwtKeyID: String

    init(_ trustDomain: String, jwtKeyID: String = "jwt-key-1") throws {
        self.trustDomain = try TrustDomain(parsing: trustDomain)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let certificate = try CertificateTemplates.selfSignedCA(
            trustDomain: self.trustDomain, subject: .init(commonName: "test CA \(trustDomain)"), privateKey: key,
            serialNumber: Certificate.SerialNumber(), now: Date(), ttl: 3_600)
        self.signing = SigningAuthority(certificate: certificate, privateKey: key)
        self.jwtKey = P256.Signing.PrivateKey()
        self.jwtKeyID = jwtKeyID
    }

    var x509Bundle: X509Bundle { X509Bundle(trustDomain: trustDomain, authorities: [signing.certificate]) }

    var jwtBundle: JWTBundle {
        get throws {
            try JWTBundle(trustDomain: trustDomain, authorities: [jwtKeyID: Certificate.PublicKey(jwtKey.publicKey)])
        }
    }

    var spiffeBundle: SPIFFEBundle {
        get throws {
            try SPIFFEBundle(trustDomain: trustDomain, x509Bundle: x509Bundle, jwtBundle: try jwtBundle)
        }
    }

    var jwtAuthority: StaticIdentityProvider.JWTAuthority {
        .init(keyID: jwtKeyID, key: JWTSigningKey(jwtKey))
    }

    func id(_ path: String) throws -> SPIFFEID { try SPIFFEID(parsing: "spiffe://\(trustDomain.name)\(path)") }

    /// A fresh key and leaf for `path`, chain = [leaf] (the CA is self-signed).
    func svid(_ path: String, ttl: TimeInterval = 600) throws -> X509SVID {
        let key = P256.Signing.PrivateKey()
        let leaf = try CertificateTemplates.x509SVID(
            id: try id(path), publicKey: Certificate.PublicKey(key.publicKey), serialNumber: Certificate.SerialNumber(),
            now: Date(), ttl: ttl, authority: signing)
        return try X509SVID(certificates: [leaf], privateKey: SVIDPrivateKey(key))
    }
}

enum TestSelectors {
    static func uid(_ uid: UInt32) -> Set<WorkloadSelector> { [WorkloadSelector(type: "unix", value: "uid:\(uid)")] }
    static var current: Set<WorkloadSelector> { uid(geteuid()) }
}

extension StaticIdentityProvider {
    /// A provider for `authority` with one entry per `(entryID, path, selectors)`.
    static func make(
        _ authority: TestAuthority, entries: [(String, String, Set<WorkloadSelector>)],
        federated: [TestAuthority] = []
    ) throws -> StaticIdentityProvider {
        var federatedBundles: [TrustDomain: SPIFFEBundle] = [:]
        for other in federated { federatedBundles[other.trustDomain] = try other.spiffeBundle }
        let state = StaticIdentityProvider.State(
            entries: try entries.map { entryID, path, selectors in
                StaticIdentityProvider.Entry(entryID: entryID, selectors: selectors, svid: try authority.svid(path))
            },
            x509Bundle: authority.x509Bundle, jwtBundle: try authority.jwtBundle,
            federatedBundles: federatedBundles, jwtAuthority: authority.jwtAuthority)
        return StaticIdentityProvider(state)
    }
}
