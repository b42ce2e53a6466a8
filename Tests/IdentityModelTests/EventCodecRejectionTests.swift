import IdentityModel
import SPIFFE
import Testing

/// The codec stops at anything it does not understand and says what it met.
@Suite("Event codec rejects what it cannot read")
struct EventCodecRejectionTests {
    static let bannedPayload = Wire.stringField(1, "spiffe://example.org/spire/agent/x509pop/abc")

    @Test("a hand-built record decodes, so the rejections below test one thing each")
    func handBuiltRecordDecodes() throws {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(51, Self.bannedPayload)
        let envelope = try EventCodec.decode(bytes)
        #expect(envelope.actor == .localAdmin(uid: 0))
        #expect(envelope.event.kind == .agentBanned)
    }

    @Test("an unknown schema version is rejected, naming the version", arguments: [0 as UInt64, 2, 300])
    func unknownSchemaVersion(version: UInt64) {
        let bytes = Wire.envelopeHeader(schemaVersion: version) + Wire.bytesField(51, Self.bannedPayload)
        #expect(throws: EventCodecError.unknownEventVersion(version)) { try EventCodec.decode(bytes) }
    }

    @Test("a future schema is reported as such even when its fields changed wire type")
    func futureSchemaWithChangedFields() {
        // Field 2 as a string, not a varint: the generated decoder would call this malformed.
        let bytes = Wire.varintField(1, 2) + Wire.stringField(2, "2026-01-01")
        #expect(throws: EventCodecError.unknownEventVersion(2)) { try EventCodec.decode(bytes) }
    }

    @Test("an unknown oneof case is rejected, naming its field number", arguments: [19 as UInt64, 53, 250, 100_000])
    func unknownEventType(fieldNumber: UInt64) {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(fieldNumber, Self.bannedPayload)
        #expect(throws: EventCodecError.unknownEventType(fieldNumber: fieldNumber)) { try EventCodec.decode(bytes) }
    }

    @Test("an unknown envelope-range field where the event should be is an unknown field")
    func unknownEnvelopeRangeField() {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(15, Self.bannedPayload)
        #expect(throws: EventCodecError.unknownField(path: "EventRecord", fieldNumber: 15)) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("a record without an event is rejected")
    func missingEvent() {
        #expect(throws: EventCodecError.missingEvent) { try EventCodec.decode(Wire.envelopeHeader()) }
    }

    @Test("an unknown field beside a known event is rejected")
    func unknownEnvelopeField() {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(51, Self.bannedPayload) + Wire.varintField(5, 1)
        #expect(throws: EventCodecError.unknownField(path: "EventRecord", fieldNumber: 5)) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("an unknown field inside a known event message is rejected, naming the message")
    func unknownNestedField() {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(51, Self.bannedPayload + Wire.varintField(9, 1))
        #expect(throws: EventCodecError.unknownField(path: "agent_banned_v1", fieldNumber: 9)) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("an unknown actor kind is rejected")
    func unknownActorKind() {
        let bytes = Wire.varintField(1, 1) + Wire.bytesField(3, Wire.stringField(7, "someone"))
            + Wire.bytesField(4, Array(0x00...0x0F)) + Wire.bytesField(51, Self.bannedPayload)
        #expect(throws: EventCodecError.unknownField(path: "actor", fieldNumber: 7)) { try EventCodec.decode(bytes) }
    }

    @Test("an invalid SPIFFE ID in an event is rejected, naming the field and the rule", arguments: [
        ("", ValidationError.Reason.empty),
        ("spiffe://Example.org/x", .invalidSPIFFEID(SPIFFEIDError(.trustDomainCharacter, input: ""))),
        ("https://example.org/x", .invalidSPIFFEID(SPIFFEIDError(.scheme, input: ""))),
        ("spiffe://example.org/a/../b", .invalidSPIFFEID(SPIFFEIDError(.dotSegment, input: ""))),
    ])
    func invalidSPIFFEID(text: String, reason: ValidationError.Reason) {
        let bytes = Wire.envelopeHeader() + Wire.bytesField(51, Wire.stringField(1, text))
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "agent_banned_v1.agent_spiffe_id", reason))) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("an invalid selector in an event names its index and half", arguments: [
        ("join_token", "", "agent_attested_v1.selectors[1].value", ValidationError.Reason.empty),
        ("", "node-1", "agent_attested_v1.selectors[1].type", .empty),
        ("a:b", "c", "agent_attested_v1.selectors[1].type", .invalidCharacter),
        ("unix", "uid\n0", "agent_attested_v1.selectors[1].value", .invalidCharacter),
    ])
    func invalidSelector(type: String, value: String, field: String, reason: ValidationError.Reason) {
        let selector = { (type: String, value: String) in
            Wire.bytesField(3, Wire.stringField(1, type) + Wire.stringField(2, value))
        }
        let payload = Wire.stringField(1, "spiffe://example.org/spire/agent/x509pop/abc")
            + Wire.stringField(2, "x509pop") + selector("x509pop", "subject:cn:abc") + selector(type, value)
            + Wire.bytesField(4, [0x01]) + Wire.varintField(5, 1_767_229_200_000)
        let bytes = Wire.envelopeHeader() + Wire.bytesField(48, payload)
        #expect(throws: EventCodecError.invalidField(ValidationError(field: field, reason))) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("values that break an entry's rules are refused on encode as well as decode")
    func encodeValidates() {
        var entry = Fixtures.entry
        entry.selectors = []
        let envelope = Fixtures.envelope(.registrationEntryCreated(.init(entry: entry)))
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "registration_entry_created_v1.entry.selectors", .empty))) {
            try EventCodec.encode(envelope)
        }
        entry = Fixtures.entry
        entry.dnsNames = ["ok.example.org", "bad name"]
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "registration_entry_updated_v1.entry.dns_names[1]", .invalidCharacter))) {
            try EventCodec.encode(Fixtures.envelope(.registrationEntryUpdated(.init(entry: entry))))
        }
    }

    @Test("a request ID of the wrong length is rejected")
    func wrongRequestIDLength() {
        let bytes = Wire.varintField(1, 1) + Wire.bytesField(3, Wire.varintField(2, 0))
            + Wire.bytesField(4, [1, 2, 3]) + Wire.bytesField(51, Self.bannedPayload)
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "request_id", .wrongLength(expectedBytes: 16)))) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("a missing actor is rejected")
    func missingActor() {
        let bytes = Wire.varintField(1, 1) + Wire.bytesField(4, Array(0x00...0x0F)) + Wire.bytesField(51, Self.bannedPayload)
        #expect(throws: EventCodecError.invalidField(ValidationError(field: "actor", .empty))) { try EventCodec.decode(bytes) }
    }

    @Test("input beyond the size limit is rejected before parsing")
    func oversizedInput() {
        let bytes = [UInt8](repeating: 0, count: IdentityModel.Limits.eventBytesMax + 1)
        #expect(throws: EventCodecError.inputTooLarge(bytes: bytes.count, maxBytes: IdentityModel.Limits.eventBytesMax)) {
            try EventCodec.decode(bytes)
        }
    }

    @Test("deep nesting is bounded")
    func deepNesting() {
        var nested: [UInt8] = []
        for _ in 0..<200 { nested = Wire.bytesField(1, nested) }
        let bytes = Wire.envelopeHeader() + Wire.bytesField(16, nested)
        #expect(throws: EventCodecError.self) { try EventCodec.decode(bytes) }
    }

    @Test("every truncation of a valid record is an error, not a crash", arguments: EventKind.allCases)
    func truncated(kind: EventKind) throws {
        let bytes = try EventCodec.encode(Fixtures.event(kind))
        for length in 0..<bytes.count {
            #expect(throws: EventCodecError.self) { try EventCodec.decode(Array(bytes[..<length])) }
        }
    }

    @Test("bit flips never crash the decoder; whatever still decodes can be written again",
          arguments: [EventKind.registrationEntryCreated, .x509SVIDIssued, .federatedBundleSet])
    func bitFlips(kind: EventKind) throws {
        let bytes = try EventCodec.encode(Fixtures.event(kind))
        var rejected = 0
        for bit in 0..<(bytes.count * 8) {
            var corrupted = bytes
            corrupted[bit / 8] ^= 1 << UInt8(bit % 8)
            do {
                let envelope = try EventCodec.decode(corrupted)
                // A flip that still decodes yields a value the codec can write again.
                _ = try EventCodec.encode(envelope)
            } catch {
                rejected += 1
            }
        }
        #expect(rejected > 0)
    }

    @Test("random splices of valid records never crash the decoder (seeded, so failures replay)")
    func randomSplices() throws {
        var generator = SplitMix64(seed: 0x11_4E_A6_E0)
        let records = try EventKind.allCases.map { try EventCodec.encode(Fixtures.event($0)) }
        for _ in 0..<5_000 {
            var bytes = records[Int(generator.next() % UInt64(records.count))]
            let donor = records[Int(generator.next() % UInt64(records.count))]
            let at = Int(generator.next() % UInt64(bytes.count))
            let from = Int(generator.next() % UInt64(donor.count))
            let length = Int(generator.next() % 16)
            bytes.replaceSubrange(at..<min(at + length, bytes.count), with: donor[from..<min(from + length, donor.count)])
            if let envelope = try? EventCodec.decode(bytes) {
                _ = try EventCodec.encode(envelope)
            }
        }
    }

    @Test("garbage bytes are rejected", arguments: [[0xFF] as [UInt8], [0x08], [0x0A, 0x05, 0x01], [0x0B, 0x0C], [0x00]])
    func garbage(bytes: [UInt8]) {
        #expect(throws: EventCodecError.self) { try EventCodec.decode(bytes) }
    }
}
