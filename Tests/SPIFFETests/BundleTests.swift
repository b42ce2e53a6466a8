import Crypto
import Testing
import X509
import _CryptoExtras

@testable import SPIFFE

/// JWKS (Workload API JWT bundles), SPIFFE bundles and bundle maps
/// (SPIFFE_Trust_Domain_and_Bundle.md §4–§5, SPIFFE-WIRE §1.4 and §2.4).
@Suite struct JWTBundleTests {
    typealias F = JWTFixtures

    func jwks(_ keys: [[String: JSONValue]]) -> [UInt8] {
        JSONValue.object(["keys": .array(keys.map(JSONValue.object))]).encoded
    }

    func member(_ key: Certificate.PublicKey, kid: String? = nil, use: String? = nil) -> [String: JSONValue] {
        try! JWK(publicKey: key, keyID: kid, use: use).jsonObject()
    }

    @Test func jwksRoundTripsByteForByte() throws {
        let bundle = F.bundle
        let bytes = try bundle.jsonEncoded()
        let parsed = try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: bytes)
        #expect(parsed == bundle)
        #expect(try parsed.jsonEncoded() == bytes)
    }

    @Test func jwksIsWhatSPIREServesKidAndNoUse() throws {
        var bundle = JWTBundle(trustDomain: F.trustDomain)
        try bundle.addAuthority(keyID: "b", publicKey: Certificate.PublicKey(F.p256.publicKey))
        try bundle.addAuthority(keyID: "a", publicKey: Certificate.PublicKey(F.p384.publicKey))
        let document = try JSONValue(parsing: bundle.jsonEncoded(), errorCode: .malformedBundle)
        let keys = try #require(document.objectValue?["keys"]?.arrayValue).compactMap(\.objectValue)
        #expect(keys.map { $0["kid"] } == [.string("a"), .string("b")])
        #expect(keys.allSatisfy { $0["use"] == nil })
        #expect(document.objectValue?.keys.sorted() == ["keys"])
    }

    @Test func keyWithoutKidIsRejected() {
        let bytes = jwks([member(F.bundle.authority(for: "kid-ES256")!)])
        expectSPIFFEError(.malformedBundle) { try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: bytes) }
        let empty = jwks([member(F.bundle.authority(for: "kid-ES256")!, kid: "")])
        expectSPIFFEError(.malformedBundle) { try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: empty) }
    }

    @Test func duplicateKidIsRejected() {
        let key = F.bundle.authority(for: "kid-ES256")!
        let bytes = jwks([member(key, kid: "k"), member(key, kid: "k")])
        expectSPIFFEError(.malformedBundle) { try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: bytes) }
    }

    @Test func keysWithOtherUseOrUnknownTypeAreIgnored() throws {
        let key = F.bundle.authority(for: "kid-ES256")!
        let bytes = jwks([
            member(key, kid: "plain"),
            member(key, kid: "jwt", use: JWK.jwtSVIDUse),
            try JWK(x509Authority: F.authority1).jsonObject(),
            member(key, kid: "wit", use: JWK.witSVIDUse),
            member(key, kid: "sig", use: "sig"),
            ["kty": .string("oct"), "kid": .string("hmac"), "k": .string("c2VjcmV0")],
        ])
        let bundle = try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: bytes)
        #expect(Set(bundle.authorities.keys) == ["plain", "jwt"])
    }

    @Test(arguments: ["{}", #"{"keys":null}"#, #"{"keys":{}}"#, "[]", #"{"keys":[1]}"#])
    func missingOrMalformedKeysIsRejected(text: String) {
        expectSPIFFEError(.malformedBundle) { try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: Array(text.utf8)) }
    }

    @Test func bundleIsASourceOfItselfOnly() {
        #expect(F.bundle.jwtBundle(for: F.trustDomain) == F.bundle)
        #expect(F.bundle.jwtBundle(for: F.otherTrustDomain) == nil)
    }

    @Test func emptyKeyIDCannotBeAdded() {
        var bundle = JWTBundle(trustDomain: F.trustDomain)
        expectSPIFFEError(.malformedBundle) {
            try bundle.addAuthority(keyID: "", publicKey: Certificate.PublicKey(F.p256.publicKey))
        }
    }
}

@Suite struct SPIFFEBundleTests {
    typealias F = JWTFixtures

    static var sample: SPIFFEBundle {
        try! SPIFFEBundle(
            trustDomain: JWTFixtures.trustDomain,
            x509Authorities: [JWTFixtures.authority1, JWTFixtures.authority2],
            jwtAuthorities: [
                "ec": Certificate.PublicKey(JWTFixtures.p256.publicKey),
                "rsa": Certificate.PublicKey(JWTFixtures.rsa.publicKey),
            ],
            sequenceNumber: UInt64.max, refreshHintSeconds: 300)
    }

    func parse(_ bytes: [UInt8]) throws(SPIFFEError) -> SPIFFEBundle {
        try SPIFFEBundle(trustDomain: F.trustDomain, jsonEncoded: bytes)
    }

    func document(_ keys: [[String: JSONValue]], extra: [String: JSONValue] = [:]) -> [UInt8] {
        var root = extra
        root["keys"] = .array(keys.map(JSONValue.object))
        return JSONValue.object(root).encoded
    }

    var jwtMember: [String: JSONValue] {
        try! JWK(publicKey: Certificate.PublicKey(F.p256.publicKey), keyID: "k", use: JWK.jwtSVIDUse).jsonObject()
    }

    var x509Member: [String: JSONValue] { try! JWK(x509Authority: F.authority1).jsonObject() }

    @Test func roundTripsByteForByte() throws {
        let bytes = try Self.sample.jsonEncoded()
        let parsed = try parse(bytes)
        #expect(parsed == Self.sample)
        #expect(try parsed.jsonEncoded() == bytes)
    }

    @Test func sequenceAndRefreshHintArePreserved() throws {
        let parsed = try parse(Self.sample.jsonEncoded())
        #expect(parsed.sequenceNumber == UInt64.max)
        #expect(parsed.refreshHintSeconds == 300)
        let text = String(decoding: try Self.sample.jsonEncoded(), as: UTF8.self)
        #expect(text.hasSuffix(#""spiffe_refresh_hint":300,"spiffe_sequence":18446744073709551615}"#))
        let bare = try parse(document([]))
        #expect(bare.sequenceNumber == nil && bare.refreshHintSeconds == nil)
        let nulls = try parse(document([], extra: ["spiffe_sequence": .null, "spiffe_refresh_hint": .null]))
        #expect(nulls.sequenceNumber == nil && nulls.refreshHintSeconds == nil)
    }

    @Test func documentShapeFollowsTheSpec() throws {
        let document = try JSONValue(parsing: Self.sample.jsonEncoded(), errorCode: .malformedBundle)
        let keys = try #require(document.objectValue?["keys"]?.arrayValue).compactMap(\.objectValue)
        #expect(keys.map { $0["use"] } == [.string("x509-svid"), .string("x509-svid"), .string("jwt-svid"), .string("jwt-svid")])
        #expect(keys[0]["x5c"]?.arrayValue?.count == 1)
        #expect(keys[0]["kid"] == nil)
        #expect(keys[2]["kid"] == .string("ec") && keys[3]["kid"] == .string("rsa"))
    }

    @Test func emptyKeysIsAllowed() throws {
        let bundle = try parse(Array(#"{"keys":[]}"#.utf8))
        #expect(bundle.isEmpty)
    }

    @Test(arguments: ["{}", #"{"keys":null}"#, #"{"keys":"x"}"#, #"{"spiffe_sequence":1}"#])
    func missingKeysIsRejected(text: String) {
        expectSPIFFEError(.malformedBundle) { try parse(Array(text.utf8)) }
    }

    @Test(arguments: [
        ("kty", JSONValue.string("oct")),
        ("kty", .string("unknown")),
        ("crv", .string("P-192")),
        ("use", .string("wit-svid")),
        ("use", .string("sig")),
        ("use", .string("JWT-SVID")),
        ("use", .null),
    ])
    func unknownKeyTypeOrUseIsIgnored(name: String, value: JSONValue) throws {
        var ignored = jwtMember
        ignored["kid"] = .string("ignored")
        ignored[name] = value
        if value == .null { ignored[name] = nil }
        var ignoredX509 = x509Member
        ignoredX509[name] = value
        if value == .null { ignoredX509[name] = nil }
        let bundle = try parse(document([ignored, ignoredX509, jwtMember]))
        #expect(Array(bundle.jwtAuthorities.keys) == ["k"])
        #expect(bundle.x509Authorities.isEmpty)
    }

    @Test func x5cWithTwoCertificatesIsRejected() throws {
        var member = x509Member
        let second = try JWK(x509Authority: F.authority2).jsonObject()["x5c"]!.arrayValue!
        member["x5c"] = .array(member["x5c"]!.arrayValue! + second)
        expectSPIFFEError(.malformedBundle) { try parse(document([member])) }
    }

    @Test func x509AuthorityWithoutX5cIsRejected() {
        var member = x509Member
        member["x5c"] = nil
        expectSPIFFEError(.malformedBundle) { try parse(document([member])) }
        member["x5c"] = .array([])
        expectSPIFFEError(.malformedBundle) { try parse(document([member])) }
    }

    @Test func jwkAndX5cKeyMismatchIsRejected() {
        var member = x509Member
        member["x5c"] = try! JWK(x509Authority: F.authority2).jsonObject()["x5c"]
        expectSPIFFEError(.keyMismatch) { try parse(document([member])) }
    }

    @Test func jwtAuthorityWithoutKidIsRejected() {
        var member = jwtMember
        member["kid"] = nil
        expectSPIFFEError(.malformedBundle) { try parse(document([member])) }
        member["kid"] = .string("")
        expectSPIFFEError(.malformedBundle) { try parse(document([member])) }
    }

    @Test(arguments: [
        ("spiffe_sequence", JSONValue.number(JSONNumber(-1))),
        ("spiffe_sequence", .number(JSONNumber(validatedLiteral: "1.5"))),
        ("spiffe_sequence", .number(JSONNumber(validatedLiteral: "18446744073709551616"))),
        ("spiffe_sequence", .string("1")),
        ("spiffe_refresh_hint", .number(JSONNumber(-5))),
        ("spiffe_refresh_hint", .string("300")),
    ])
    func badSequenceOrRefreshHintIsRejected(name: String, value: JSONValue) {
        expectSPIFFEError(.malformedBundle) { try parse(document([], extra: [name: value])) }
    }

    @Test func oversizeIsRejected() {
        let tooMany = document(Array(repeating: ["use": .string("sig")], count: Limits.bundleKeysMax + 1))
        expectSPIFFEError(.inputTooLarge) { try parse(tooMany) }
        let tooBig = Array(#"{"keys":[],"pad":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: Limits.bundleJSONBytesMax)
            + Array(#""}"#.utf8)
        expectSPIFFEError(.inputTooLarge) { try parse(tooBig) }
    }

    @Test func convertsToAndFromX509AndJWTBundles() throws {
        let sample = Self.sample
        #expect(sample.x509Bundle == X509Bundle(trustDomain: F.trustDomain, authorities: [F.authority1, F.authority2]))
        #expect(sample.jwtBundle.authorities == sample.jwtAuthorities)
        let rebuilt = try SPIFFEBundle(trustDomain: F.trustDomain, x509Bundle: sample.x509Bundle, jwtBundle: sample.jwtBundle)
        #expect(rebuilt.x509Authorities == sample.x509Authorities && rebuilt.jwtAuthorities == sample.jwtAuthorities)
        #expect(sample.x509Bundle(for: F.trustDomain) != nil && sample.x509Bundle(for: F.otherTrustDomain) == nil)
        #expect(sample.jwtBundle(for: F.otherTrustDomain) == nil)
        expectSPIFFEError(.malformedBundle) {
            try SPIFFEBundle(trustDomain: F.otherTrustDomain, x509Bundle: sample.x509Bundle)
        }
    }

    @Test func parsedJWTBundleFromSPIFFEBundleDocument() throws {
        // A full SPIFFE bundle also parses as a JWT bundle: only jwt-svid keys are taken.
        let jwt = try JWTBundle(trustDomain: F.trustDomain, jsonEncoded: Self.sample.jsonEncoded())
        #expect(jwt.authorities == Self.sample.jwtAuthorities)
    }
}

@Suite struct BundleSetTests {
    typealias F = JWTFixtures

    static var set: BundleSet {
        var other = try! SPIFFEBundle(
            trustDomain: JWTFixtures.otherTrustDomain, x509Authorities: [JWTFixtures.authority2])
        other.sequenceNumber = 7
        return BundleSet([SPIFFEBundleTests.sample, other])
    }

    func parse(_ text: String) throws(SPIFFEError) -> BundleSet {
        try BundleSet(bundleMapJSON: Array(text.utf8))
    }

    @Test func bundleMapRoundTripsByteForByte() throws {
        let bytes = try Self.set.bundleMapJSONEncoded()
        let parsed = try BundleSet(bundleMapJSON: bytes)
        #expect(try parsed.bundleMapJSONEncoded() == bytes)
        #expect(parsed.trustDomains == [F.trustDomain, F.otherTrustDomain])
        #expect(parsed.spiffeBundle(for: F.otherTrustDomain)?.sequenceNumber == 7)
        // Producers SHOULD omit refresh hints inside a map.
        #expect(parsed.spiffeBundle(for: F.trustDomain)?.refreshHintSeconds == nil)
        #expect(parsed.spiffeBundle(for: F.trustDomain)?.sequenceNumber == UInt64.max)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix(#"{"trust_domains":{"example.org":{"keys":["#))
    }

    @Test func duplicateTrustDomainKeyIsRejected() {
        // JSONSerialization would silently keep one of these; the spec says MUST reject.
        expectSPIFFEError(.duplicateJSONMember) {
            try parse(#"{"trust_domains":{"example.org":{"keys":[]},"example.org":{"keys":[]}}}"#)
        }
        expectSPIFFEError(.duplicateJSONMember) {
            try parse(#"{"trust_domains":{"example.org":{"keys":[]},"spiffe://example.org":{"keys":[]}}}"#)
        }
    }

    @Test func spiffePrefixedKeysAreAccepted() throws {
        let set = try parse(#"{"trust_domains":{"spiffe://example.org":{"keys":[]}}}"#)
        #expect(set.trustDomains == [F.trustDomain])
    }

    @Test(arguments: [
        #"{"trust_domains":{"Example.org":{"keys":[]}}}"#,
        #"{"trust_domains":{"spiffe://example.org/path":{"keys":[]}}}"#,
        #"{"trust_domains":{"":{"keys":[]}}}"#,
        #"{"trust_domains":[]}"#,
        #"{}"#,
        #"{"trust_domains":{"example.org":{}}}"#,
    ])
    func malformedMapIsRejected(text: String) {
        expectSPIFFEError(.malformedBundle) { try parse(text) }
    }

    @Test func addingPartsMergesPerTrustDomain() throws {
        var set = BundleSet()
        set.add(X509Bundle(trustDomain: F.trustDomain, authorities: [F.authority1]))
        set.add(F.bundle)
        #expect(set.count == 1)
        #expect(set.x509Bundle(for: F.trustDomain)?.authorities == [F.authority1])
        #expect(set.jwtBundle(for: F.trustDomain) == F.bundle)
        set.add(X509Bundle(trustDomain: F.trustDomain, authorities: [F.authority2]))
        #expect(set.x509Bundle(for: F.trustDomain)?.authorities == [F.authority2])
        #expect(set.jwtBundle(for: F.trustDomain) == F.bundle)
        #expect(set.x509Bundle(for: F.otherTrustDomain) == nil)
        set.remove(F.trustDomain)
        #expect(set.jwtBundle(for: F.trustDomain) == nil)
    }
}
