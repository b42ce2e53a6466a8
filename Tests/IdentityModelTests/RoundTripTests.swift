import IdentityModel
import SPIFFE
import Testing

@Suite("Event codec round trips")
struct RoundTripTests {
    @Test("every event decodes back to the value encoded", arguments: EventKind.allCases)
    func roundTrip(kind: EventKind) throws {
        let envelope = Fixtures.event(kind)
        #expect(try EventCodec.decode(EventCodec.encode(envelope)) == envelope)
    }

    @Test("the encoder's checked value is what decoding its bytes gives", arguments: EventKind.allCases)
    func checkedValue(kind: EventKind) throws {
        let (bytes, decoded) = try EventCodec.encodeChecked(Fixtures.event(kind))
        #expect(try EventCodec.decode(bytes) == decoded)
        #expect(try EventCodec.encode(Fixtures.event(kind)) == bytes)
    }

    @Test("every actor round-trips, including root's UID 0", arguments: [
        Actor.admin(Fixtures.id("spiffe://example.org/admin")),
        .localAdmin(uid: 0),
        .localAdmin(uid: UInt32.max),
        .agent(Fixtures.agentID),
        .server(Fixtures.node("server-3")),
    ])
    func actors(actor: Actor) throws {
        let envelope = Fixtures.envelope(.agentBanned(.init(agentID: Fixtures.agentID)), actor: actor)
        #expect(try EventCodec.decode(EventCodec.encode(envelope)) == envelope)
    }

    @Test("an upstream-signed authority keeps its chain and roots; upstream material needs its ID and a root")
    func upstreamAuthority() throws {
        let der: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x01]
        func prepared(_ upstreamID: AuthorityID?, chain: [[UInt8]], roots: [[UInt8]]) -> EventEnvelope {
            Fixtures.envelope(.x509AuthorityPrepared(.init(authority: X509AuthorityDescriptor(
                reference: Fixtures.serverAuthority, certificateDER: der, notAfter: Fixtures.issuedAt,
                upstreamAuthorityID: upstreamID, upstreamChainDER: chain, upstreamRootsDER: roots))), actor: Fixtures.server)
        }
        let upstream = try AuthorityID("0a1b2c")
        let signed = prepared(upstream, chain: [der, der + [0]], roots: [der])
        #expect(try EventCodec.decode(EventCodec.encode(signed)) == signed)
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "x509_authority_prepared_v1.upstream_roots_der", .empty))) {
            try EventCodec.decode(EventCodec.encode(prepared(upstream, chain: [der], roots: [])))
        }
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "x509_authority_prepared_v1.upstream_authority_id", .empty))) {
            try EventCodec.decode(EventCodec.encode(prepared(nil, chain: [], roots: [der])))
        }
    }

    @Test("optional fields keep their absence and zero values stay distinct from it")
    func optionals() throws {
        var entry = Fixtures.entry
        entry.expiresAt = Timestamp(millisecondsSinceEpoch: 0)
        let withZero = Fixtures.envelope(.registrationEntryCreated(.init(entry: entry)))
        #expect(try EventCodec.decode(EventCodec.encode(withZero)) == withZero)
        entry.expiresAt = nil
        let without = Fixtures.envelope(.registrationEntryCreated(.init(entry: entry)))
        #expect(try EventCodec.decode(EventCodec.encode(without)) == without)

        let svid = X509SVIDIssued(
            serialNumber: Fixtures.serial([1]), spiffeID: Fixtures.agentID, entryID: nil, requestingAgentID: nil,
            issuer: Fixtures.serverAuthority, notBefore: Fixtures.issuedAt, notAfter: Fixtures.issuedAt,
            publicKeySHA256: Fixtures.digest(1), certificateSHA256: Fixtures.digest(2))
        let agentSVID = Fixtures.envelope(.x509SVIDIssued(svid), actor: Fixtures.server)
        #expect(try EventCodec.decode(EventCodec.encode(agentSVID)) == agentSVID)
    }

    @Test("negative times and extreme values survive")
    func extremes() throws {
        var envelope = Fixtures.event(.registrationEntryCreated)
        envelope.issuedAt = Timestamp(millisecondsSinceEpoch: Int64.min)
        envelope.requestID = RequestID(high: .max, low: 0)
        #expect(try EventCodec.decode(EventCodec.encode(envelope)) == envelope)
    }

    @Test("an X509-SVID that ends before it starts is refused")
    func svidValidityOrder() {
        let svid = X509SVIDIssued(
            serialNumber: Fixtures.serial([1]), spiffeID: Fixtures.agentID, entryID: nil, requestingAgentID: nil,
            issuer: Fixtures.serverAuthority, notBefore: Fixtures.issuedAt,
            notAfter: Fixtures.issuedAt.advanced(by: .seconds(-1)),
            publicKeySHA256: Fixtures.digest(1), certificateSHA256: Fixtures.digest(2))
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "x509_svid_issued_v1.not_after_unix_ms", .outOfOrder))) {
            try EventCodec.encode(Fixtures.envelope(.x509SVIDIssued(svid)))
        }
    }

    @Test("a JWT-SVID needs an audience")
    func jwtAudience() {
        let jwt = JWTSVIDIssued(
            spiffeID: Fixtures.agentID, audience: [], expiresAt: Fixtures.issuedAt, issuer: Fixtures.jwtAuthority,
            entryID: nil, requestingAgentID: nil)
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "jwt_svid_issued_v1.audience", .empty))) {
            try EventCodec.encode(Fixtures.envelope(.jwtSVIDIssued(jwt)))
        }
    }

    @Test("a cluster address needs a port")
    func clusterAddress() {
        let added = ClusterMemberAdded(nodeName: Fixtures.node("server-2"), address: "10.0.0.2")
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "cluster_member_added_v1.address", .missingSeparator))) {
            try EventCodec.encode(Fixtures.envelope(.clusterMemberAdded(added)))
        }
    }
}
