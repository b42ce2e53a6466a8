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
    /// with a self-signed CA; the CA and its upstream chain with an upstream authority).
    public struct IssuedX509: Sendable {
        public let certificate: Certificate
        public let intermediates: [Certificate]
        public var chain: [Certificate] { [certificate] + intermediates }
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
        let publicKey = try CSRValidator.publicKey(fromDER: csrDER)
        return try await issueX509(publicKey: publicKey, for: subject, actor: actor)
    }

    public func issueX509(publicKey: Certificate.PublicKey, for subject: Subject, actor: Actor, now: Date = Date()) async throws -> IssuedX509 {
        guard let active = ca.x509 else { throw IssueError(description: "this server has no active X.509 authority") }
        var random = SystemRandomNumberGenerator()
        // Encoded once: the certificate's SKI and the event's hash both read it.
        let key = try SubjectPublicKey(publicKey)
        let certificate = try CertificateTemplates.x509SVID(
            id: subject.id, key: key, dnsNames: subject.dnsNames,
            serialNumber: SerialNumbers.random(using: &random), now: now,
            ttl: (subject.ttl ?? settings.defaultX509TTL).inSeconds, authority: active.authority)
        let der = try CAManager.der(certificate)
        let issued = X509SVIDIssued(
            serialNumber: try CertificateSerialNumber(bytes: certificate.serialNumber.bytes),
            spiffeID: subject.id, entryID: subject.entryID, requestingAgentID: subject.requestingAgent,
            issuer: active.reference, notBefore: Timestamp(date: certificate.notValidBefore),
            notAfter: Timestamp(date: certificate.notValidAfter),
            publicKeySHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: key.subjectPublicKeyInfoDER))),
            certificateSHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: der))))
        try await log.submit(.x509SVIDIssued(issued), by: actor, at: now)
        log.metrics.svidSigned("x509")
        return IssuedX509(certificate: certificate, intermediates: active.authority.chainAfterIssued)
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
