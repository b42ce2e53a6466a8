import IdentityModel
import SPIFFE
import Testing

/// Golden bytes and rejection tests for `ModelCodec`: projection tables hold these bytes, so a
/// change that alters them breaks every stored projection and fails here.
@Suite("Model value codec")
struct ModelCodecTests {
    static let agentRecord = AgentRecord(
        spiffeID: Fixtures.agentID, attestationType: "join_token", selectors: [Fixtures.selector("join_token:node-1")],
        serialNumber: Fixtures.serial([0x01, 0x02]), notAfter: Fixtures.issuedAt.advanced(by: .seconds(3600)),
        pendingSerialNumber: Fixtures.serial([0x03]), pendingNotAfter: Fixtures.issuedAt.advanced(by: .seconds(7200)),
        canReattest: false, banned: true)
    static let joinToken = JoinToken(tokenSHA256: Fixtures.digest(0xA0), expiresAt: Fixtures.issuedAt)
    static let x509 = X509AuthorityDescriptor(
        reference: Fixtures.serverAuthority, certificateDER: [0x30, 0x03, 0x02, 0x01, 0x01],
        notAfter: Fixtures.issuedAt, upstreamAuthorityID: Fixtures.authority("up-1"),
        upstreamChainDER: [[0x30, 0x00]], upstreamRootsDER: [[0x30, 0x01]])
    static let jwt = JWTAuthorityDescriptor(reference: Fixtures.jwtAuthority, publicKeyDER: [0x30, 0x00], notAfter: Fixtures.issuedAt)
    static let bundle = FederatedBundle(
        trustDomain: try! TrustDomain("partner.example"), x509AuthoritiesDER: [[0x30, 0x00]],
        jwtAuthorities: [JWTKey(keyID: Fixtures.authority("k"), publicKeyDER: [0x30, 0x01], expiresAt: Fixtures.issuedAt)],
        refreshHintSeconds: 300, sequenceNumber: 7)

    @Test("each value encodes to its pinned bytes and decodes back")
    func golden() throws {
        let entry = try ModelCodec.encode(Fixtures.entry)
        #expect(Hex.encode(entry) == Self.goldenEntry)
        #expect(try ModelCodec.decodeRegistrationEntry(entry) == Fixtures.entry)

        let agent = try ModelCodec.encode(Self.agentRecord)
        #expect(Hex.encode(agent) == Self.goldenAgent)
        #expect(try ModelCodec.decodeAgentRecord(agent) == Self.agentRecord)

        let token = try ModelCodec.encode(Self.joinToken)
        #expect(Hex.encode(token) == Self.goldenJoinToken)
        #expect(try ModelCodec.decodeJoinToken(token) == Self.joinToken)

        let x509 = try ModelCodec.encode(Self.x509)
        #expect(Hex.encode(x509) == Self.goldenX509)
        #expect(try ModelCodec.decodeX509Authority(x509) == Self.x509)

        let jwt = try ModelCodec.encode(Self.jwt)
        #expect(Hex.encode(jwt) == Self.goldenJWT)
        #expect(try ModelCodec.decodeJWTAuthority(jwt) == Self.jwt)

        let bundle = try ModelCodec.encode(Self.bundle)
        #expect(Hex.encode(bundle) == Self.goldenBundle)
        #expect(try ModelCodec.decodeFederatedBundle(bundle) == Self.bundle)
    }

    @Test("an agent record without a pending renewal round-trips")
    func agentWithoutPending() throws {
        var record = Self.agentRecord
        record.pendingSerialNumber = nil
        record.pendingNotAfter = nil
        record.banned = false
        #expect(try ModelCodec.decodeAgentRecord(ModelCodec.encode(record)) == record)
    }

    @Test("unknown format byte, empty input, unknown fields and invalid values are refused")
    func rejections() throws {
        var bytes = try ModelCodec.encode(Self.joinToken)
        bytes[0] = 2
        #expect(throws: EventCodecError.unknownEventVersion(2)) { try ModelCodec.decodeJoinToken(bytes) }
        #expect(throws: EventCodecError.malformed(reason: "empty model value")) { try ModelCodec.decodeJoinToken([]) }
        // Field 15, varint 1: unknown to JoinTokenCreatedV1.
        let unknown = try ModelCodec.encode(Self.joinToken) + [0x78, 0x01]
        #expect(throws: EventCodecError.unknownField(path: "join_token", fieldNumber: 15)) {
            try ModelCodec.decodeJoinToken(unknown)
        }
        // A 3-byte token hash.
        #expect(throws: EventCodecError.self) { try ModelCodec.decodeJoinToken([1, 0x0a, 0x03, 1, 2, 3]) }
        // An entry without selectors fails validation when encoding (the paired check).
        var entry = Fixtures.entry
        entry.selectors = []
        #expect(throws: EventCodecError.self) { try ModelCodec.encode(entry) }
        // A pending serial without its expiry is refused.
        var record = Self.agentRecord
        record.pendingNotAfter = nil
        #expect(throws: EventCodecError.self) { try ModelCodec.encode(record) }
    }

    static let goldenEntry =
        "010a2435663363396432612d316234652d346338662d396137642d30653662326331643366346112"
        + "267370696666653a2f2f6578616d706c652e6f72672f6e732f64656661756c742f73612f7765621a"
        + "327370696666653a2f2f6578616d706c652e6f72672f73706972652f6167656e742f6a6f696e5f74"
        + "6f6b656e2f6e6f64652d3122100a04756e697812087569643a3130303022110a036b3873120a6e73"
        + "3a64656661756c7428901c320f706172746e65722e6578616d706c654880a8aff4ac34520f776562"
        + "2e6578616d706c652e6f726752112a2e7765622e6578616d706c652e6f726768ac02720377656278"
        + "80d0eab6b733"
    static let goldenAgent =
        "010a327370696666653a2f2f6578616d706c652e6f72672f73706972652f6167656e742f6a6f696e"
        + "5f746f6b656e2f6e6f64652d31120a6a6f696e5f746f6b656e1a140a0a6a6f696e5f746f6b656e12"
        + "066e6f64652d31220201022880adc6b8b73332010338808aa2bab7334801"
    static let goldenJoinToken =
        "010a20a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf1080d0eab6"
        + "b733"
    static let goldenX509 =
        "010a087365727665722d311228366233613063316632653464356136393738623863396430653166"
        + "323033313432353336343761381a0530030201012080d0eab6b7332a0475702d31"
        + "320230003a023001"
    static let goldenJWT =
        "010a087365727665722d31120b6b69642d323032362d30311a0230002080d0eab6b733"
    static let goldenBundle =
        "010a0f706172746e65722e6578616d706c65120230001a0e0a016b120230011880d0eab6b73320ac"
        + "022807"
}
