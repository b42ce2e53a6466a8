import Authority
import Crypto
import _CryptoExtras
import Foundation
import IdentityModel
import KeyStore
import Projections
import SPIFFE
import SwiftASN1
import Synchronization
import X509

/// This server's authorities: one X.509 CA and one JWT signing key at a time, rotated on SPIRE's
/// schedule (`RotationPolicy`) or by hand (`localauthority`). Every step is an event first; the
/// signing material in memory follows what the log says is active, and the keys live in the
/// key store under the authority's ID, so a restarted server signs with the same CA.
public final class CAManager: Sendable {
    public struct Settings: Sendable {
        public var trustDomain: TrustDomain
        public var caTTL: Duration
        public var subject: CertificateTemplates.CASubject
        public var x509KeyType: KeyType
        public var jwtKeyType: KeyType
        /// SPIRE's `UpstreamAuthority "disk"`: read again at every CA preparation, so replaced
        /// upstream files take effect at the next rotation, as in SPIRE.
        public var upstream: UpstreamFiles?

        public init(
            trustDomain: TrustDomain, caTTL: Duration, subject: CertificateTemplates.CASubject,
            x509KeyType: KeyType, jwtKeyType: KeyType, upstream: UpstreamFiles? = nil
        ) {
            self.trustDomain = trustDomain
            self.caTTL = caTTL
            self.subject = subject
            self.x509KeyType = x509KeyType
            self.jwtKeyType = jwtKeyType
            self.upstream = upstream
        }
    }

    /// Where the upstream authority's PEM files are.
    public struct UpstreamFiles: Sendable {
        /// A few certificates and a key; anything larger is not an upstream authority's file.
        static let fileBytesMax = 256 * 1024
        public var certificatePath: String
        public var keyPath: String
        public var bundlePath: String?

        public init(certificatePath: String, keyPath: String, bundlePath: String?) {
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.bundlePath = bundlePath
        }

        /// Reads and checks the files; every problem names the file or the rule it broke.
        public func load(now: Date) throws -> UpstreamAuthority {
            func read(_ path: String, _ key: String) throws -> String {
                do {
                    return String(decoding: try PrivateFiles.read(path, bytesMax: Self.fileBytesMax), as: UTF8.self)
                } catch {
                    throw CAError(description: "UpstreamAuthority \"disk\": \(key) \(error.message)")
                }
            }
            do {
                return try UpstreamAuthority(
                    certificatesPEM: try read(certificatePath, "cert_file_path"), keyPEM: try read(keyPath, "key_file_path"),
                    bundlePEM: try bundlePath.map { try read($0, "bundle_file_path") }, now: now)
            } catch let error as AuthorityError {
                throw CAError(description: "UpstreamAuthority \"disk\": \(error.reason)")
            }
        }
    }

    /// The X.509 authority this server signs with.
    public struct ActiveX509: Sendable {
        public let reference: AuthorityReference
        public let authority: SigningAuthority
    }

    /// The JWT key this server signs with.
    public struct ActiveJWT: Sendable {
        public let reference: AuthorityReference
        public let signer: JWTSigningKey
        public let notAfter: Date
        /// The `kid` header: the authority ID, as SPIRE uses the key ID.
        public var keyID: String { reference.authorityID.rawValue }
    }

    public struct CAError: Error, CustomStringConvertible {
        public let description: String
    }

    public let settings: Settings
    private let log: IdentityLog
    private let keys: any KeyStore
    private let active = Mutex<(x509: ActiveX509?, jwt: ActiveJWT?)>((nil, nil))

    public init(settings: Settings, log: IdentityLog, keys: any KeyStore) {
        self.settings = settings
        self.log = log
        self.keys = keys
    }

    public var x509: ActiveX509? { active.withLock { $0.x509 } }
    public var jwt: ActiveJWT? { active.withLock { $0.jwt } }

    private var server: NodeName { log.nodeName }

    // MARK: - Schedule

    /// Brings the authorities to where the schedule says they should be at `now`: bootstraps
    /// missing ones, prepares the next at half-life, activates it at five-sixths. Called at
    /// start and then periodically.
    public func maintain(now: Date = Date()) async throws {
        try await maintainX509(now: now)
        try await maintainJWT(now: now)
        try reloadActive()
    }

    private func maintainX509(now: Date) async throws {
        let own = log.state.x509Authorities.values.filter { $0.reference.serverNodeName == server && !$0.revoked }
        let current = own.first { $0.phase == .active && keys.key(named: Self.x509KeyName($0.reference)) != nil }
        let next = own.filter { $0.phase == .prepared && keys.key(named: Self.x509KeyName($0.reference)) != nil }
            .max { $0.descriptor.notAfter < $1.descriptor.notAfter }
        switch RotationPolicy.action(now: now, current: try current.map(Self.window), next: try next.map(Self.window)) {
        case .bootstrap:
            let reference = try await prepareX509(now: now)
            try await activateX509(reference.authorityID)
        case .prepareNext: _ = try await prepareX509(now: now)
        case .activateNext: if let next { try await activateX509(next.reference.authorityID) }
        case .none: break
        }
    }

    private func maintainJWT(now: Date) async throws {
        let own = log.state.jwtAuthorities.values.filter { $0.reference.serverNodeName == server && !$0.revoked }
        let current = own.first { $0.phase == .active && keys.key(named: Self.jwtKeyName($0.reference)) != nil }
        let next = own.filter { $0.phase == .prepared && keys.key(named: Self.jwtKeyName($0.reference)) != nil }
            .max { $0.descriptor.notAfter < $1.descriptor.notAfter }
        let window = { (record: JWTAuthorityRecord) in
            let notAfter = record.descriptor.notAfter.date
            return RotationPolicy.Window(notBefore: notAfter - self.caLifetime, notAfter: notAfter)
        }
        switch RotationPolicy.action(now: now, current: current.map(window), next: next.map(window)) {
        case .bootstrap:
            let reference = try await prepareJWT(now: now)
            try await activateJWT(reference.authorityID)
        case .prepareNext: _ = try await prepareJWT(now: now)
        case .activateNext: if let next { try await activateJWT(next.reference.authorityID) }
        case .none: break
        }
    }

    private var caLifetime: TimeInterval { settings.caTTL.inSeconds }

    // MARK: - Transitions (also `localauthority`)

    /// Makes a key and a self-signed CA certificate and records them as prepared: the CA joins
    /// the bundle at once, before it signs anything.
    public func prepareX509(now: Date = Date()) async throws -> AuthorityReference {
        let reference = AuthorityReference(serverNodeName: server, authorityID: try Self.newAuthorityID())
        // Checked before a key is made, so a broken upstream leaves nothing behind.
        let upstream = try settings.upstream?.load(now: now)
        let key = try keys.key(named: Self.x509KeyName(reference), creatingIfMissing: settings.x509KeyType)
        var random = SystemRandomNumberGenerator()
        let serialNumber = SerialNumbers.random(using: &random)
        let descriptor: X509AuthorityDescriptor
        if let upstream {
            let certificate = try CertificateTemplates.intermediateCA(
                trustDomain: settings.trustDomain, subject: settings.subject, publicKey: key.publicKey,
                serialNumber: serialNumber, now: now, ttl: caLifetime, upstream: upstream.signer)
            descriptor = X509AuthorityDescriptor(
                reference: reference, certificateDER: try Self.der(certificate),
                notAfter: Timestamp(date: certificate.notValidAfter),
                upstreamAuthorityID: try AuthorityID(Self.hex(upstream.signer.subjectKeyID)),
                upstreamChainDER: try upstream.signer.chainAfterIssued.map(Self.der),
                upstreamRootsDER: try upstream.roots.map(Self.der))
        } else {
            let certificate = try CertificateTemplates.selfSignedCA(
                trustDomain: settings.trustDomain, subject: settings.subject, privateKey: key,
                serialNumber: serialNumber, now: now, ttl: caLifetime)
            descriptor = X509AuthorityDescriptor(
                reference: reference, certificateDER: try Self.der(certificate),
                notAfter: Timestamp(date: certificate.notValidAfter))
        }
        try await log.submit(.x509AuthorityPrepared(X509AuthorityPrepared(authority: descriptor)), by: .server(server), at: now)
        return reference
    }

    public func prepareJWT(now: Date = Date()) async throws -> AuthorityReference {
        let reference = AuthorityReference(serverNodeName: server, authorityID: try Self.newAuthorityID())
        let key = try keys.key(named: Self.jwtKeyName(reference), creatingIfMissing: settings.jwtKeyType)
        let publicKey = try Self.der(key.publicKey)
        let descriptor = JWTAuthorityDescriptor(
            reference: reference, publicKeyDER: publicKey, notAfter: Timestamp(date: now + caLifetime))
        try await log.submit(.jwtAuthorityPrepared(JWTAuthorityPrepared(authority: descriptor)), by: .server(server), at: now)
        return reference
    }

    public func activateX509(_ id: AuthorityID) async throws {
        try await transition(.x509AuthorityActivated(X509AuthorityActivated(authority: reference(id))))
    }

    public func taintX509(_ id: AuthorityID) async throws {
        try await transition(.x509AuthorityTainted(X509AuthorityTainted(authority: reference(id))))
    }

    public func revokeX509(_ id: AuthorityID) async throws {
        try await transition(.x509AuthorityRevoked(X509AuthorityRevoked(authority: reference(id))))
    }

    public func activateJWT(_ id: AuthorityID) async throws {
        try await transition(.jwtAuthorityActivated(JWTAuthorityActivated(authority: reference(id))))
    }

    public func taintJWT(_ id: AuthorityID) async throws {
        try await transition(.jwtAuthorityTainted(JWTAuthorityTainted(authority: reference(id))))
    }

    public func revokeJWT(_ id: AuthorityID) async throws {
        try await transition(.jwtAuthorityRevoked(JWTAuthorityRevoked(authority: reference(id))))
    }

    private func reference(_ id: AuthorityID) -> AuthorityReference {
        AuthorityReference(serverNodeName: server, authorityID: id)
    }

    private func transition(_ event: Event) async throws {
        try await log.submit(event, by: .server(server))
        try reloadActive()
    }

    /// Points the signing material at what the log says is active. `maintain()` calls this
    /// every few seconds, so material already built for the same authority is kept.
    private func reloadActive() throws {
        let state = log.state
        let (currentX509, currentJWT) = active.withLock { $0 }
        var x509: ActiveX509?
        if let record = state.activeX509Authority(of: server), let key = keys.key(named: Self.x509KeyName(record.reference)) {
            if let currentX509, currentX509.reference == record.reference {
                x509 = currentX509
            } else {
                let certificate = try Certificate(derEncoded: record.descriptor.certificateDER)
                let chain = try record.descriptor.upstreamChainDER.map { try Certificate(derEncoded: $0) }
                x509 = ActiveX509(
                    reference: record.reference,
                    authority: SigningAuthority(certificate: certificate, upstreamChain: chain, privateKey: key))
            }
        }
        var jwt: ActiveJWT?
        if let record = state.activeJWTAuthority(of: server), let key = keys.key(named: Self.jwtKeyName(record.reference)) {
            jwt = currentJWT?.reference == record.reference
                ? currentJWT
                : ActiveJWT(reference: record.reference, signer: try Self.jwtSigner(key), notAfter: record.descriptor.notAfter.date)
        }
        active.withLock { $0 = (x509, jwt) }
    }

    // MARK: - Pieces

    static func x509KeyName(_ reference: AuthorityReference) -> String { "x509-CA-\(reference.authorityID)" }
    static func jwtKeyName(_ reference: AuthorityReference) -> String { "JWT-Signer-\(reference.authorityID)" }

    /// 32 hex digits from the system CSPRNG (SPIRE's key IDs are random too).
    static func newAuthorityID() throws -> AuthorityID {
        var random = SystemRandomNumberGenerator()
        return try AuthorityID(hex((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// The JWT signer for a key-store key (the key store holds `Certificate.PrivateKey`s).
    static func jwtSigner(_ key: Certificate.PrivateKey) throws -> JWTSigningKey {
        let pem = try key.serializeAsPEM().pemString
        if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: pem) { return JWTSigningKey(p256) }
        if let p384 = try? P384.Signing.PrivateKey(pemRepresentation: pem) { return JWTSigningKey(p384) }
        if let rsa = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) { return try JWTSigningKey(rsa, algorithm: .rs256) }
        throw CAError(description: "the JWT key is of a type JWT-SVIDs cannot be signed with")
    }

    static func window(_ record: X509AuthorityRecord) throws -> RotationPolicy.Window {
        let certificate = try Certificate(derEncoded: record.descriptor.certificateDER)
        return RotationPolicy.Window(notBefore: certificate.notValidBefore, notAfter: certificate.notValidAfter)
    }

    static func der(_ certificate: Certificate) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func der(_ publicKey: Certificate.PublicKey) throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(publicKey)
        return serializer.serializedBytes
    }
}
