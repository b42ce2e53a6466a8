import IdentityModel
import SPIFFE

/// Fixed instances of every event, one per `EventKind`, for golden-bytes and round-trip tests.
///
/// Never change an existing fixture: its committed bytes in `Golden/` pin the stored format.
/// A new event version gets a new fixture and a new golden file beside the old one.
enum Fixtures {
    static func id(_ text: String) -> SPIFFEID { try! SPIFFEID(parsing: text) }
    static func selector(_ text: String) -> Selector { try! Selector(parsing: text) }
    static func node(_ text: String) -> NodeName { try! NodeName(text) }
    static func authority(_ text: String) -> AuthorityID { try! AuthorityID(text) }
    static func entryID(_ text: String) -> RegistrationEntryID { try! RegistrationEntryID(text) }
    static func serial(_ bytes: [UInt8]) -> CertificateSerialNumber { try! CertificateSerialNumber(bytes: bytes) }
    /// A recognisable digest: `seed, seed+1, …`.
    static func digest(_ seed: UInt8) -> SHA256Digest {
        try! SHA256Digest(bytes: (0..<32).map { seed &+ UInt8($0) })
    }

    static let requestID = try! RequestID(bytes: Array(0x00...0x0F))
    /// 2026-01-01T00:00:00Z.
    static let issuedAt = Timestamp(millisecondsSinceEpoch: 1_767_225_600_000)
    static let admin = Actor.admin(id("spiffe://example.org/admin"))
    static let agentID = id("spiffe://example.org/spire/agent/join_token/node-1")
    static let agent = Actor.agent(agentID)
    static let server = Actor.server(node("server-1"))
    static let serverAuthority = AuthorityReference(
        serverNodeName: node("server-1"), authorityID: authority("6b3a0c1f2e4d5a6978b8c9d0e1f20314253647a8"))
    static let jwtAuthority = AuthorityReference(
        serverNodeName: node("server-1"), authorityID: authority("kid-2026-01"))

    static let entry = RegistrationEntry(
        id: entryID("5f3c9d2a-1b4e-4c8f-9a7d-0e6b2c1d3f4a"),
        spiffeID: id("spiffe://example.org/ns/default/sa/web"),
        parentID: agentID,
        selectors: [selector("unix:uid:1000"), selector("k8s:ns:default")],
        x509SVIDTTLSeconds: 3600,
        jwtSVIDTTLSeconds: 300,
        federatesWith: [try! TrustDomain("partner.example")],
        admin: false,
        downstream: false,
        expiresAt: Timestamp(secondsSinceEpoch: 1_798_761_600),
        dnsNames: ["web.example.org", "*.web.example.org"],
        revisionNumber: 0,
        hint: "web",
        createdAt: issuedAt)

    static func envelope(_ event: Event, actor: Actor = admin) -> EventEnvelope {
        EventEnvelope(issuedAt: issuedAt, actor: actor, requestID: requestID, event: event)
    }

    /// The golden instance of each event kind.
    static func event(_ kind: EventKind) -> EventEnvelope {
        switch kind {
        case .registrationEntryCreated:
            return envelope(.registrationEntryCreated(.init(entry: entry)))
        case .registrationEntryUpdated:
            var updated = entry
            updated.revisionNumber = 1
            updated.admin = true
            updated.expiresAt = nil
            updated.dnsNames = []
            return envelope(.registrationEntryUpdated(.init(entry: updated)), actor: .localAdmin(uid: 0))
        case .registrationEntryDeleted:
            return envelope(.registrationEntryDeleted(.init(entryID: entry.id, revisionNumber: 1)))
        case .joinTokenCreated:
            return envelope(
                .joinTokenCreated(
                    .init(token: JoinToken(tokenSHA256: digest(0xA0), expiresAt: issuedAt.advanced(by: .seconds(600))))),
                actor: .localAdmin(uid: 1000))
        case .joinTokenConsumed:
            return envelope(.joinTokenConsumed(.init(tokenSHA256: digest(0xA0), agentID: agentID)), actor: agent)
        case .agentAttested:
            return envelope(
                .agentAttested(
                    .init(
                        agentID: agentID, attestationType: "join_token",
                        selectors: [selector("join_token:node-1")],
                        serialNumber: serial([0x01, 0x02, 0x03, 0x04]),
                        notAfter: issuedAt.advanced(by: .seconds(3600)), canReattest: false)),
                actor: agent)
        case .agentRenewed:
            return envelope(
                .agentRenewed(
                    .init(agentID: agentID, serialNumber: serial([0x05, 0x06]), notAfter: issuedAt.advanced(by: .seconds(7200)))),
                actor: agent)
        case .agentRenewalActivated:
            return envelope(.agentRenewalActivated(.init(agentID: agentID, serialNumber: serial([0x05, 0x06]))), actor: agent)
        case .agentBanned:
            return envelope(.agentBanned(.init(agentID: agentID)))
        case .agentEvicted:
            return envelope(.agentEvicted(.init(agentID: agentID)))
        case .x509SVIDIssued:
            return envelope(
                .x509SVIDIssued(
                    .init(
                        serialNumber: serial([0x7F, 0x00, 0x10, 0xAB]), spiffeID: entry.spiffeID,
                        entryID: entry.id, requestingAgentID: agentID, issuer: serverAuthority,
                        notBefore: issuedAt.advanced(by: .seconds(-10)),
                        notAfter: issuedAt.advanced(by: .seconds(3600)),
                        publicKeySHA256: digest(0x10), certificateSHA256: digest(0x40))),
                actor: agent)
        case .jwtSVIDIssued:
            return envelope(
                .jwtSVIDIssued(
                    .init(
                        spiffeID: entry.spiffeID, audience: ["https://api.example.org", "spiffe://example.org/db"],
                        expiresAt: issuedAt.advanced(by: .seconds(300)), issuer: jwtAuthority,
                        entryID: entry.id, requestingAgentID: agentID)),
                actor: agent)
        case .x509AuthorityPrepared:
            return envelope(
                .x509AuthorityPrepared(
                    .init(
                        authority: X509AuthorityDescriptor(
                            reference: serverAuthority, certificateDER: [0x30, 0x03, 0x02, 0x01, 0x01],
                            notAfter: issuedAt.advanced(by: .seconds(86400)), upstreamAuthorityID: nil))),
                actor: server)
        case .x509AuthorityActivated:
            return envelope(.x509AuthorityActivated(.init(authority: serverAuthority)), actor: server)
        case .x509AuthorityTainted:
            return envelope(.x509AuthorityTainted(.init(authority: serverAuthority)))
        case .x509AuthorityRevoked:
            return envelope(.x509AuthorityRevoked(.init(authority: serverAuthority)))
        case .jwtAuthorityPrepared:
            return envelope(
                .jwtAuthorityPrepared(
                    .init(
                        authority: JWTAuthorityDescriptor(
                            reference: jwtAuthority, publicKeyDER: [0x30, 0x02, 0x05, 0x00],
                            notAfter: issuedAt.advanced(by: .seconds(86400))))),
                actor: server)
        case .jwtAuthorityActivated:
            return envelope(.jwtAuthorityActivated(.init(authority: jwtAuthority)), actor: server)
        case .jwtAuthorityTainted:
            return envelope(.jwtAuthorityTainted(.init(authority: jwtAuthority)))
        case .jwtAuthorityRevoked:
            return envelope(.jwtAuthorityRevoked(.init(authority: jwtAuthority)))
        case .federatedBundleSet:
            return envelope(
                .federatedBundleSet(
                    .init(
                        bundle: FederatedBundle(
                            trustDomain: try! TrustDomain("partner.example"),
                            x509AuthoritiesDER: [[0x30, 0x03, 0x02, 0x01, 0x02]],
                            jwtAuthorities: [
                                JWTKey(
                                    keyID: authority("partner-kid"), publicKeyDER: [0x30, 0x02, 0x05, 0x00],
                                    expiresAt: issuedAt.advanced(by: .seconds(86400)))
                            ],
                            refreshHintSeconds: 300, sequenceNumber: 7))))
        case .federatedBundleDeleted:
            return envelope(.federatedBundleDeleted(.init(trustDomain: try! TrustDomain("partner.example"))))
        case .clusterMemberAdded:
            return envelope(
                .clusterMemberAdded(.init(nodeName: node("server-2"), address: "10.0.0.2:8082")), actor: server)
        case .clusterMemberRemoved:
            return envelope(.clusterMemberRemoved(.init(nodeName: node("server-2"))), actor: server)
        }
    }
}

/// Lowercase hex encoding and a lenient decoder (whitespace and `#` comment lines ignored).
enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
            .joined()
    }

    static func decode(_ text: String) -> [UInt8]? {
        let digits = text.split(separator: "\n")
            .filter { !$0.hasPrefix("#") }
            .joined()
            .filter { !$0.isWhitespace }
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            guard let byte = UInt8(digits[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes
    }
}
