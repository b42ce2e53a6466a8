import Crypto
import Foundation
import Testing
import X509
import _CryptoExtras

@testable import SPIFFE

/// JWT-SVID minting and validation: JWT-SVID.md §2–§3, SPIFFE-WIRE §1.5, §2.3 and §5.3, and the
/// SPIRE 1.11.3/1.12.3 ValidateJWTSVID row of RELIABILITY §3. Every negative test changes one
/// thing in an otherwise valid, correctly signed token, so it fails if its check is removed.
@Suite struct JWTSVIDTests {
    typealias F = JWTFixtures

    // MARK: - Positive

    @Test(arguments: JWTAlgorithm.allCases)
    func mintThenValidateRoundTrip(algorithm: JWTAlgorithm) throws {
        let svid = try JWTSVID.sign(
            subject: F.subject, audience: [F.audience], expiresAt: F.now + 300, issuedAt: F.now,
            keyID: "kid-\(algorithm.name)", signer: F.signer(algorithm))
        let validated = try F.validate(svid.token)
        #expect(validated == svid)
        #expect(validated.id == F.subject)
        #expect(validated.audience == [F.audience])
        #expect(validated.algorithm == algorithm)
        #expect(validated.keyID == "kid-\(algorithm.name)")
        #expect(validated.expiresAt == F.now + 300)
        #expect(validated.issuedAt == F.now)
    }

    @Test func mintedHeaderIsExactlyAlgKidTyp() throws {
        let svid = try JWTSVID.sign(
            subject: F.subject, audience: [F.audience], expiresAt: F.now + 300, issuedAt: F.now,
            keyID: "k1", signer: F.signer(.es256))
        let headerPart = svid.token.split(separator: ".")[0]
        let header = try #require(Base64.decode(headerPart, alphabet: .url))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"ES256","kid":"k1","typ":"JWT"}"#)
        #expect(svid.header.type == "JWT")
    }

    @Test func mintedClaimsCarrySubAudListExpIatAndOptionalIssJti() throws {
        let svid = try JWTSVID.sign(
            subject: F.subject, audience: ["a", "b"], expiresAt: F.now + 300.9, issuedAt: F.now + 0.7,
            keyID: "k1", signer: F.signer(.es256), issuer: "https://issuer", jwtID: "jti-1",
            extraClaims: ["team": .string("blue")])
        let payload = try #require(Base64.decode(svid.token.split(separator: ".")[1], alphabet: .url))
        let expected = #"{"aud":["a","b"],"exp":1767225900,"iat":1767225600,"iss":"https://issuer","#
            + #""jti":"jti-1","sub":"spiffe://example.org/ns/default/sa/web","team":"blue"}"#
        #expect(String(decoding: payload, as: UTF8.self) == expected)
        #expect(svid.claims["team"] == .string("blue"))
    }

    @Test func ecdsaSignatureIsRawRAndSNotDER() throws {
        for (algorithm, size) in [(JWTAlgorithm.es256, 64), (.es384, 96), (.es512, 132)] {
            let svid = try JWTSVID.sign(
                subject: F.subject, audience: [F.audience], expiresAt: F.now + 300, issuedAt: F.now,
                keyID: "kid-\(algorithm.name)", signer: F.signer(algorithm))
            let signature = try #require(Base64.decode(svid.token.split(separator: ".")[2], alphabet: .url))
            #expect(signature.count == size)
        }
    }

    @Test(arguments: [
        JSONValue.string(JWTFixtures.audience),
        .array([.string(JWTFixtures.audience)]),
        .array([.string("other"), .string(JWTFixtures.audience)]),
    ])
    func audienceAsStringOrArray(audience: JSONValue) throws {
        let svid = try F.validate(F.token(claims: F.claims(audience: audience)))
        #expect(svid.audience.contains(F.audience))
        #expect(svid.claims["aud"] == audience)
        #expect(svid.claimsWithAudienceList["aud"]?.arrayValue?.contains(.string(F.audience)) == true)
        #expect(svid.claimsWithAudienceList["sub"] == .string(F.subject.string))
    }

    @Test func typJOSEAndAbsentTypAreAccepted() throws {
        var header = F.header()
        header["typ"] = .string("JOSE")
        #expect(try F.validate(F.token(header: header)).header.type == "JOSE")
        header["typ"] = nil
        #expect(try F.validate(F.token(header: header)).header.type == nil)
    }

    @Test func expiryWithinLeewayIsAccepted() throws {
        let svid = try JWTSVID.sign(
            subject: F.subject, audience: [F.audience], expiresAt: F.now + 10, issuedAt: F.now - 10,
            keyID: "kid-ES256", signer: F.signer(.es256))
        _ = try F.validate(svid.token, at: F.now + 10 + Double(Limits.jwtClockSkewLeewaySeconds))
    }

    @Test func bundleSetAndSPIFFEBundleAreSources() throws {
        let token = F.token()
        var set = BundleSet()
        set.add(F.bundle)
        #expect(try F.validate(token, bundles: set).id == F.subject)
        let spiffeBundle = try SPIFFEBundle(trustDomain: F.trustDomain, jwtBundle: F.bundle)
        #expect(try F.validate(token, bundles: spiffeBundle).id == F.subject)
    }

    @Test func parseInsecureSkipsOnlyTheSignature() throws {
        let svid = try JWTSVID(
            parsingInsecure: flipSignatureByte(F.token()), audience: F.audience, at: F.now)
        #expect(svid.id == F.subject)
        expectSPIFFEError(.jwtExpired) {
            try JWTSVID(parsingInsecure: F.token(), audience: F.audience, at: F.now + 7200)
        }
        expectSPIFFEError(.audienceMismatch) {
            try JWTSVID(parsingInsecure: F.token(), audience: "nope", at: F.now)
        }
        expectSPIFFEError(.unsupportedAlgorithm) {
            try JWTSVID(parsingInsecure: tokenWithAlgorithm("none"), audience: F.audience, at: F.now)
        }
    }

    // MARK: - Header rejections

    func tokenWithAlgorithm(_ name: String) -> String {
        var header = F.header()
        header["alg"] = .string(name)
        return F.token(header: header)
    }

    @Test func algNoneIsRejected() {
        // An unsigned token: empty signature part, as an attacker would send it.
        let header = F.b64(JSONValue.object(["alg": .string("none"), "kid": .string("kid-ES256")]).encoded)
        let token = header + "." + F.b64(JSONValue.object(F.claims()).encoded) + "."
        expectSPIFFEError(.unsupportedAlgorithm) { try F.validate(token) }
        expectSPIFFEError(.unsupportedAlgorithm) { try F.validate(tokenWithAlgorithm("none")) }
    }

    @Test func hs256IsRejected() {
        // Classic key confusion: HMAC keyed with the public key bytes.
        let key = SymmetricKey(data: F.p256.publicKey.rawRepresentation)
        var header = F.header()
        header["alg"] = .string("HS256")
        let input = F.b64(JSONValue.object(header).encoded) + "." + F.b64(JSONValue.object(F.claims()).encoded)
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key)
        expectSPIFFEError(.unsupportedAlgorithm) { try F.validate(input + "." + F.b64(Array(mac))) }
    }

    @Test func edDSAIsRejected() {
        struct EdDSASigner: JWTSigner {
            var algorithm: JWTAlgorithm { .es256 }
            func signature(for signingInput: [UInt8]) throws(SPIFFEError) -> [UInt8] {
                Array(try! JWTFixtures.ed25519.signature(for: signingInput))
            }
        }
        var header = F.header(keyID: "kid-ed25519")
        header["alg"] = .string("EdDSA")
        expectSPIFFEError(.unsupportedAlgorithm) { try F.validate(F.token(header: header, signer: EdDSASigner())) }
    }

    @Test(arguments: ["jwt", "JWS", "at+jwt", ""])
    func typOtherThanJWTOrJOSEIsRejected(type: String) {
        var header = F.header()
        header["typ"] = .string(type)
        expectSPIFFEError(.invalidJWTHeader) { try F.validate(F.token(header: header)) }
    }

    @Test(arguments: ["crit", "jku", "x5u", "jwk", "cty", "b64"])
    func extraHeaderParameterIsRejected(name: String) {
        var header = F.header()
        header[name] = .string("x")
        expectSPIFFEError(.invalidJWTHeader) { try F.validate(F.token(header: header)) }
    }

    @Test func missingKidIsRejected() {
        expectSPIFFEError(.invalidJWTHeader) { try F.validate(F.token(header: F.header(keyID: nil))) }
    }

    @Test func emptyKidIsRejected() {
        expectSPIFFEError(.invalidJWTHeader) { try F.validate(F.token(header: F.header(keyID: ""))) }
    }

    @Test func unknownKidIsRejected() {
        expectSPIFFEError(.unknownKey) { try F.validate(F.token(header: F.header(keyID: "no-such-key"))) }
    }

    @Test func wrongKeyTypeForAlgIsRejected() {
        // The kid names the RSA key but the header says ES256 (and the token is ES256-signed).
        expectSPIFFEError(.algorithmKeyMismatch) {
            try F.validate(F.token(header: F.header(.es256, keyID: "kid-RS256")))
        }
        // ES384 against the P-256 key.
        expectSPIFFEError(.algorithmKeyMismatch) {
            try F.validate(F.token(header: F.header(.es384, keyID: "kid-ES256"), signer: F.signer(.es384)))
        }
        // RS256 against an EC key.
        expectSPIFFEError(.algorithmKeyMismatch) {
            try F.validate(F.token(header: F.header(.rs256, keyID: "kid-ES256"), signer: F.signer(.rs256)))
        }
    }

    @Test func pssTokenPresentedAsPKCS1IsRejected() {
        let token = F.token(header: F.header(.rs256, keyID: "kid-RS256"), signer: F.signer(.ps256))
        expectSPIFFEError(.signatureInvalid) { try F.validate(token) }
    }

    // MARK: - Claims rejections

    func token(without claim: String) -> String {
        var claims = F.claims()
        claims[claim] = nil
        return F.token(claims: claims)
    }

    func token(setting claim: String, to value: JSONValue) -> String {
        var claims = F.claims()
        claims[claim] = value
        return F.token(claims: claims)
    }

    @Test func missingSubIsRejected() {
        expectSPIFFEError(.invalidJWTClaims) { try F.validate(token(without: "sub")) }
    }

    @Test(arguments: ["example.org/web", "https://example.org/web", "spiffe://EXAMPLE.org/web", "spiffe://example.org/", ""])
    func subNotASPIFFEIDIsRejected(subject: String) {
        expectSPIFFEError(.invalidSPIFFEID) { try F.validate(token(setting: "sub", to: .string(subject))) }
    }

    @Test func missingExpIsRejected() {
        expectSPIFFEError(.invalidJWTClaims) { try F.validate(token(without: "exp")) }
    }

    @Test func nonNumericExpIsRejected() {
        expectSPIFFEError(.invalidJWTClaims) { try F.validate(token(setting: "exp", to: .string("1767229200"))) }
    }

    @Test func expiredIsRejected() {
        let expiry = F.now.timeIntervalSince1970 + 3600
        expectSPIFFEError(.jwtExpired) {
            try F.validate(F.token(), at: Date(timeIntervalSince1970: expiry + Double(Limits.jwtClockSkewLeewaySeconds) + 1))
        }
    }

    @Test func notBeforeInTheFutureIsRejected() {
        let future = JSONValue.number(JSONNumber(Int64(F.now.timeIntervalSince1970) + 600))
        expectSPIFFEError(.jwtNotYetValid) { try F.validate(token(setting: "nbf", to: future)) }
        expectSPIFFEError(.jwtNotYetValid) { try F.validate(token(setting: "iat", to: future)) }
    }

    @Test func audMissingIsRejected() {
        expectSPIFFEError(.invalidJWTClaims) { try F.validate(token(without: "aud")) }
    }

    @Test(arguments: [JSONValue.array([]), .number(JSONNumber(1)), .array([.number(JSONNumber(1))]), .null])
    func audMalformedIsRejected(audience: JSONValue) {
        expectSPIFFEError(.invalidJWTClaims) { try F.validate(token(setting: "aud", to: audience)) }
    }

    @Test func tooManyAudiencesAreRejected() {
        let audience = JSONValue.array((0...Limits.jwtAudiencesMax).map { .string("a\($0)") } + [.string(F.audience)])
        expectSPIFFEError(.inputTooLarge) { try F.validate(token(setting: "aud", to: audience)) }
    }

    @Test(arguments: [JSONValue.string("spiffe://example.org/other"), .array([.string("a"), .string("b")])])
    func audWithoutExpectedValueIsRejected(audience: JSONValue) {
        expectSPIFFEError(.audienceMismatch) { try F.validate(token(setting: "aud", to: audience)) }
    }

    @Test func subjectTrustDomainWithoutBundleIsRejected() {
        let foreign = token(setting: "sub", to: .string("spiffe://other.org/web"))
        // The bundle is a source of itself only, so a key shared across domains cannot help.
        expectSPIFFEError(.noBundle) { try F.validate(foreign) }
        expectSPIFFEError(.noBundle) { try F.validate(foreign, bundles: BundleSet([])) }
    }

    @Test func duplicateClaimIsRejected() {
        let header = F.b64(JSONValue.object(F.header()).encoded)
        let payload = #"{"sub":"spiffe://example.org/a","sub":"spiffe://example.org/b","aud":"x","exp":9999999999}"#
        let input = header + "." + F.b64(Array(payload.utf8))
        let token = input + "." + F.b64(try! F.signer(.es256).signature(for: Array(input.utf8)))
        expectSPIFFEError(.duplicateJSONMember) { try F.validate(token, audience: "x") }
    }

    // MARK: - Signature and structure rejections

    func flipSignatureByte(_ token: String) -> String {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        var signature = Base64.decode(parts[2], alphabet: .url)!
        signature[signature.count / 2] ^= 0x01
        return parts[0] + "." + parts[1] + "." + F.b64(signature)
    }

    @Test(arguments: [JWTAlgorithm.es256, .es384, .es512, .rs256, .ps256])
    func badSignatureIsRejected(algorithm: JWTAlgorithm) {
        let token = F.token(header: F.header(algorithm, keyID: "kid-\(algorithm.name)"), signer: F.signer(algorithm))
        #expect(throws: Never.self) { try F.validate(token) }
        expectSPIFFEError(.signatureInvalid) { try F.validate(flipSignatureByte(token)) }
    }

    @Test func alteredPayloadIsRejected() {
        let parts = F.token().split(separator: ".").map(String.init)
        var claims = F.claims()
        claims["sub"] = .string("spiffe://example.org/admin")
        let forged = parts[0] + "." + F.b64(JSONValue.object(claims).encoded) + "." + parts[2]
        expectSPIFFEError(.signatureInvalid) { try F.validate(forged) }
    }

    @Test func derEncodedECDSASignatureIsRejected() throws {
        let input = F.b64(JSONValue.object(F.header()).encoded) + "." + F.b64(JSONValue.object(F.claims()).encoded)
        let der = try F.p256.signature(for: Array(input.utf8)).derRepresentation
        expectSPIFFEError(.signatureInvalid) { try F.validate(input + "." + F.b64(Array(der))) }
    }

    @Test(arguments: [1, 2, 4, 5])
    func notThreePartsIsRejected(count: Int) {
        let parts = F.token().split(separator: ".").map(String.init)
        let token = (0..<count).map { parts[$0 % 3] }.joined(separator: ".")
        expectSPIFFEError(.malformedJWT) { try F.validate(token) }
    }

    @Test(arguments: ["", "..", "a.b.c", "eyJ.eyJ.", "W10.e30.AA"])
    func garbageIsRejected(token: String) {
        expectSPIFFEError(.malformedJWT) { try F.validate(token) }
    }

    @Test func paddedBase64IsRejected() {
        let token = F.token()
        let parts = token.split(separator: ".").map(String.init)
        // Standard base64 with padding in the signature part is not JWS compact form.
        let padded = parts[0] + "." + parts[1] + "." + parts[2] + "=="
        expectSPIFFEError(.malformedJWT) { try F.validate(padded) }
    }

    @Test func oversizeIsRejected() {
        var claims = F.claims()
        claims["pad"] = .string(String(repeating: "x", count: Limits.jwtBytesMax))
        let token = F.token(claims: claims)
        #expect(token.utf8.count > Limits.jwtBytesMax)
        expectSPIFFEError(.inputTooLarge) { try F.validate(token) }
    }

    // MARK: - Minting rules

    @Test func mintingRejectsBadArguments() {
        let signer = F.signer(.es256)
        expectSPIFFEError(.invalidJWTClaims) {
            try JWTSVID.sign(subject: F.subject, audience: [], expiresAt: F.now + 60, issuedAt: F.now, keyID: "k", signer: signer)
        }
        expectSPIFFEError(.invalidJWTHeader) {
            try JWTSVID.sign(subject: F.subject, audience: ["a"], expiresAt: F.now + 60, issuedAt: F.now, keyID: "", signer: signer)
        }
        expectSPIFFEError(.invalidJWTClaims) {
            try JWTSVID.sign(subject: F.subject, audience: ["a"], expiresAt: F.now, issuedAt: F.now, keyID: "k", signer: signer)
        }
        expectSPIFFEError(.invalidJWTClaims) {
            try JWTSVID.sign(
                subject: F.subject, audience: ["a"], expiresAt: F.now + 60, issuedAt: F.now, keyID: "k", signer: signer,
                extraClaims: ["sub": .string("spiffe://example.org/admin")])
        }
        expectSPIFFEError(.algorithmKeyMismatch) { try JWTSigningKey(F.rsa, algorithm: .es256) }
        expectSPIFFEError(.invalidJWTClaims) {
            try JWTSVID.sign(
                subject: F.subject, audience: ["a"], expiresAt: Date(timeIntervalSince1970: .infinity), issuedAt: F.now,
                keyID: "k", signer: signer)
        }
        expectSPIFFEError(.inputTooLarge) {
            try JWTSVID.sign(
                subject: F.subject, audience: (0...Limits.jwtAudiencesMax).map { "a\($0)" }, expiresAt: F.now + 60,
                issuedAt: F.now, keyID: "k", signer: signer)
        }
    }
}
