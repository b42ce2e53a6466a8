import IdentityModel
import SPIFFE
import Testing

@Suite("Model values")
struct ModelValueTests {
    @Test("request IDs are exactly 16 bytes and round-trip through bytes")
    func requestID() throws {
        let bytes: [UInt8] = Array(0xF0...0xFF)
        let id = try RequestID(bytes: bytes)
        #expect(id.bytes == bytes)
        #expect(id.description == "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
        #expect(id.high == 0xF0F1_F2F3_F4F5_F6F7)
        #expect(throws: ValidationError(field: "", .wrongLength(expectedBytes: 16))) { try RequestID(bytes: bytes.dropLast()) }
        #expect(throws: ValidationError(field: "", .wrongLength(expectedBytes: 16))) { try RequestID(bytes: bytes + [0]) }
    }

    @Test("request IDs come from the injected generator")
    func requestIDRandom() {
        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        #expect(RequestID.random(using: &first) == RequestID.random(using: &second))
    }

    @Test("timestamps convert between seconds and milliseconds")
    func timestamps() {
        let time = Timestamp(secondsSinceEpoch: 1_767_225_600)
        #expect(time.millisecondsSinceEpoch == 1_767_225_600_000)
        #expect(time.advanced(by: .milliseconds(1500)).millisecondsSinceEpoch == 1_767_225_601_500)
        #expect(time.advanced(by: .seconds(-1)) < time)
        #expect(Timestamp(millisecondsSinceEpoch: -1).secondsSinceEpoch == -1)
        #expect(Timestamp(millisecondsSinceEpoch: 1999).secondsSinceEpoch == 1)
    }

    @Test("an entry is a value: a changed copy leaves the original alone; equality and hash follow the fields")
    func entryValueSemantics() {
        let original = Fixtures.entry
        var changed = original
        changed.selectors.append(Fixtures.selector("unix:gid:0"))
        changed.hint = "changed"
        changed.revisionNumber += 1
        #expect(original.selectors == Fixtures.entry.selectors)
        #expect(original.hint == Fixtures.entry.hint)
        #expect(changed.selectors.count == original.selectors.count + 1)
        #expect(changed != original)

        // Built separately (no shared storage) but equal field for field.
        let rebuilt = RegistrationEntry(
            id: original.id, spiffeID: original.spiffeID, parentID: original.parentID,
            selectors: original.selectors, x509SVIDTTLSeconds: original.x509SVIDTTLSeconds,
            jwtSVIDTTLSeconds: original.jwtSVIDTTLSeconds, federatesWith: original.federatesWith,
            admin: original.admin, downstream: original.downstream, expiresAt: original.expiresAt,
            dnsNames: original.dnsNames, revisionNumber: original.revisionNumber, hint: original.hint,
            createdAt: original.createdAt)
        #expect(rebuilt == original)
        #expect(rebuilt.hashValue == original.hashValue)
        var restored = changed
        restored.selectors.removeLast()
        restored.hint = original.hint
        restored.revisionNumber = original.revisionNumber
        #expect(restored == original)
        #expect(Set([original, rebuilt, restored]).count == 1)
    }

    @Test("log indexes order and advance")
    func logIndex() {
        let revision: Revision = LogIndex(41)
        #expect(revision.next == LogIndex(42))
        #expect(LogIndex.zero < revision)
    }

    @Test("identifiers validate their alphabet and length")
    func identifiers() throws {
        _ = try RegistrationEntryID("5f3c9d2a-1b4e-4c8f-9a7d-0e6b2c1d3f4a")
        #expect(throws: ValidationError(field: "", .empty)) { try RegistrationEntryID("") }
        #expect(throws: ValidationError(field: "", .invalidCharacter)) { try RegistrationEntryID("has space") }
        #expect(throws: ValidationError(field: "", .tooLong(maxBytes: 255))) {
            try RegistrationEntryID(String(repeating: "a", count: 256))
        }
        _ = try NodeName("server-1.example_org")
        #expect(throws: ValidationError(field: "", .invalidCharacter)) { try NodeName("server/1") }
        _ = try AuthorityID("kid with spaces")
        #expect(throws: ValidationError(field: "", .invalidCharacter)) { try AuthorityID("tab\there") }
        #expect(throws: ValidationError(field: "", .empty)) { try CertificateSerialNumber(bytes: []) }
        #expect(throws: ValidationError(field: "", .tooLong(maxBytes: 21))) {
            try CertificateSerialNumber(bytes: [UInt8](repeating: 1, count: 22))
        }
        #expect(throws: ValidationError(field: "", .wrongLength(expectedBytes: 32))) { try SHA256Digest(bytes: [0]) }
    }

    @Test("an entry needs selectors, without duplicates, and bounded lists")
    func entryValidation() throws {
        try Fixtures.entry.validate()
        var entry = Fixtures.entry
        entry.selectors.append(entry.selectors[0])
        #expect(throws: ValidationError(field: "selectors", .duplicate)) { try entry.validate() }
        // Short lists are compared pairwise, long ones through a set: a duplicate far apart in
        // a long list, distinct long lists, and a duplicate of the last two are all told apart.
        let many = try (0..<40).map { try Selector(type: "k8s", value: "label:\($0)") }
        entry.selectors = many
        try entry.validate()
        entry.selectors = many + [many[3]]
        #expect(throws: ValidationError(field: "selectors", .duplicate)) { try entry.validate() }
        entry.selectors = Array(many[0..<5]) + [many[4]]
        #expect(throws: ValidationError(field: "selectors", .duplicate)) { try entry.validate() }
        entry = Fixtures.entry
        entry.x509SVIDTTLSeconds = -1
        #expect(throws: ValidationError(field: "x509_svid_ttl_seconds", .negative)) { try entry.validate() }
        entry = Fixtures.entry
        entry.federatesWith.append(entry.federatesWith[0])
        #expect(throws: ValidationError(field: "federates_with", .duplicate)) { try entry.validate() }
        entry = Fixtures.entry
        entry.hint = "line\nbreak"
        #expect(throws: ValidationError(field: "hint", .invalidCharacter)) { try entry.validate() }
    }

    @Test("validation errors gain the path of their container")
    func errorPaths() {
        let error = ValidationError(field: "value", .empty).inside("selectors[2]").inside("entry")
        #expect(error.field == "entry.selectors[2].value")
        #expect(error.description == "entry.selectors[2].value is required")
    }

    @Test("each event reports its kind, and every kind names a v1 message")
    func kinds() {
        for kind in EventKind.allCases {
            #expect(Fixtures.event(kind).event.kind == kind)
            #expect(kind.currentVersion == 1)
        }
    }
}

/// A small deterministic generator for tests (Steele et al., SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
