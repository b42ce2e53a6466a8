import Authority
import Crypto
import Foundation
import IdentityModel
import SPIFFE
import SwiftASN1
import X509

/// Signs X509- and JWT-SVIDs with this server's active authority, and records each signing as
/// an event before the SVID leaves the server (the CA journal an auditor replays).
///
/// The SPIFFE ID always comes from the caller's decision — an entry, the agent's own ID, the
/// server's — never from the CSR (SPIRE's SPI-01-004).
public struct SVIDIssuer: Sendable {
    public struct Settings: Sendable {
        public var defaultX509TTL: Duration
        public var defaultJWTTTL: Duration
        /// `iss` claim of JWT-SVIDs (SPIRE's `jwt_issuer`); none when nil.
        public var jwtIssuer: String?

        public init(defaultX509TTL: Duration, defaultJWTTTL: Duration, jwtIssuer: String?) {
            self.defaultX509TTL = defaultX509TTL
            self.defaultJWTTTL = defaultJWTTTL
            self.jwtIssuer = jwtIssuer
        }
    }

    public struct IssueError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Who an SVID is for and on whose request.
    public struct Subject: Sendable {
        public var id: SPIFFEID
        public var dnsNames: [String] = []
        /// nil: the default TTL.
        public var ttl: Duration?
        public var entryID: RegistrationEntryID?
        public var requestingAgent: SPIFFEID?

        public init(id: SPIFFEID, dnsNames: [String] = [], ttl: Duration? = nil,
                    entryID: RegistrationEntryID? = nil, requestingAgent: SPIFFEID? = nil) {
            self.id = id
            self.dnsNames = dnsNames
            self.ttl = ttl
            self.entryID = entryID
            self.requestingAgent = requestingAgent
        }
    }

    /// A signed X509-SVID and the certificates that follow it up to the bundle's roots (none
    /// with a self-signed CA; the CA and its upstream chain with an upstream authority). Held as
    /// DER, which is what goes on the wire: parsing it back is left to callers that need it.
    public struct IssuedX509: Sendable {
        public let certificateDER: [UInt8]
        public let serialNumber: Certificate.SerialNumber
        public let notValidAfter: Date
        public let intermediates: [Certificate]
        public let intermediatesDER: [[UInt8]]
        /// The leaf then the intermediates, as DER.
        public var chainDER: [[UInt8]] { [certificateDER] + intermediatesDER }
        /// The leaf parsed.
        public func certificate() throws -> Certificate { try Certificate(derEncoded: certificateDER) }
        /// The leaf parsed, then the intermediates.
        public func chain() throws -> [Certificate] { [try certificate()] + intermediates }
    }

    public let settings: Settings
    let ca: CAManager
    let log: IdentityLog

    public init(settings: Settings, ca: CAManager, log: IdentityLog) {
        self.settings = settings
        self.ca = ca
        self.log = log
    }

    /// Checks the CSR (signature, allowed key) and signs an X509-SVID over its public key.
    public func issueX509(csrDER: [UInt8], for subject: Subject, actor: Actor) async throws -> IssuedX509 {
        // The key comes with its SPKI encoding: the certificate and the event's hash reuse it.
        let key = try CSRValidator.subjectPublicKey(fromDER: csrDER)
        return try await issueX509(key: key, for: subject, actor: actor)
    }

    public func issueX509(publicKey: Certificate.PublicKey, for subject: Subject, actor: Actor, now: Date = Date()) async throws -> IssuedX509 {
        try await issueX509(key: try SubjectPublicKey(publicKey), for: subject, actor: actor, now: now)
    }

    func issueX509(key: SubjectPublicKey, for subject: Subject, actor: Actor, now: Date = Date()) async throws -> IssuedX509 {
        guard let active = ca.x509 else { throw IssueError(description: "this server has no active X.509 authority") }
        var random = PooledRandom()
        let signed = try CertificateTemplates.signedX509SVID(
            id: subject.id, key: key, dnsNames: subject.dnsNames,
            serialNumber: SerialNumbers.random(using: &random), now: now,
            ttl: (subject.ttl ?? settings.defaultX509TTL).inSeconds, authority: active.authority)
        let issued = X509SVIDIssued(
            serialNumber: try CertificateSerialNumber(bytes: signed.serialNumber.bytes),
            spiffeID: subject.id, entryID: subject.entryID, requestingAgentID: subject.requestingAgent,
            issuer: active.reference, notBefore: Timestamp(date: signed.notValidBefore),
            notAfter: Timestamp(date: signed.notValidAfter),
            publicKeySHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: key.subjectPublicKeyInfoDER))),
            certificateSHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: signed.der))))
        try await log.submit(.x509SVIDIssued(issued), by: actor, at: now)
        log.metrics.svidSigned("x509")
        return IssuedX509(
            certificateDER: signed.der, serialNumber: signed.serialNumber, notValidAfter: signed.notValidAfter,
            intermediates: active.authority.chainAfterIssued, intermediatesDER: active.authority.chainAfterIssuedDER)
    }

    /// Mints a JWT-SVID; the token itself is never logged, only who got one for what.
    public func issueJWT(for subject: Subject, audience: [String], actor: Actor, now: Date = Date()) async throws -> (token: String, expiresAt: Date) {
        guard let active = ca.jwt else { throw IssueError(description: "this server has no active JWT authority") }
        guard !audience.isEmpty else { throw IssueError(description: "a JWT-SVID needs at least one audience") }
        let expiresAt = min(now + (subject.ttl ?? settings.defaultJWTTTL).inSeconds, active.notAfter)
        guard expiresAt > now else { throw IssueError(description: "the JWT authority expires now") }
        let svid = try JWTSVID.sign(
            subject: subject.id, audience: audience, expiresAt: expiresAt, issuedAt: now,
            keyID: active.keyID, signer: active.signer, issuer: settings.jwtIssuer)
        let issued = JWTSVIDIssued(
            spiffeID: subject.id, audience: audience, expiresAt: Timestamp(date: expiresAt), issuer: active.reference,
            entryID: subject.entryID, requestingAgentID: subject.requestingAgent)
        try await log.submit(.jwtSVIDIssued(issued), by: actor, at: now)
        log.metrics.svidSigned("jwt")
        return (svid.token, expiresAt)
    }
}
