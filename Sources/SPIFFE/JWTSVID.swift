import Foundation

/// A JWT-SVID: a JWS in compact serialisation whose `sub` is a SPIFFE ID (JWT-SVID.md), as
/// go-spiffe's `jwtsvid.SVID`.
///
/// Values come from `sign(…)` (minting), `init(parsing:bundles:audience:at:)` (full validation,
/// what the Workload API's ValidateJWTSVID and every client do) or
/// `init(parsingInsecure:audience:at:)` (structure and claims only, no signature).
public struct JWTSVID: Hashable, Sendable {
    /// The protected header. JWT-SVID.md §2 allows exactly these three parameters.
    public struct Header: Hashable, Sendable {
        public let algorithm: JWTAlgorithm
        /// `kid`: optional in the spec, but required (non-empty) by SPIRE and go-spiffe, and here.
        public let keyID: String
        /// `typ`: absent, `JWT` or `JOSE`.
        public let type: String?
    }

    /// Claim names the minting API sets itself; `extraClaims` may not override them.
    public static let registeredClaimNames: Set<String> = ["sub", "aud", "exp", "iat", "nbf", "iss", "jti"]

    /// `sub`.
    public let id: SPIFFEID
    /// `aud`, always as a list (a single string in the token becomes a one-element list).
    public let audience: [String]
    /// `exp`, whole seconds.
    public let expiresAt: Date
    /// `iat`, whole seconds, when present.
    public let issuedAt: Date?
    public let header: Header
    /// Every claim as decoded, including `sub`, `aud` and `exp` in their original JSON form
    /// (the `claims` Struct of ValidateJWTSVIDResponse is built from this).
    public let claims: [String: JSONValue]
    /// The compact serialisation: `header.payload.signature`.
    public let token: String

    /// The claims as SPIRE's ValidateJWTSVID returns them: `aud` always rendered as a list
    /// (SPIFFE-WIRE §1.5), everything else as decoded.
    public var claimsWithAudienceList: [String: JSONValue] {
        var claims = self.claims
        claims["aud"] = .array(audience.map(JSONValue.string))
        return claims
    }

    public var keyID: String { header.keyID }
    public var algorithm: JWTAlgorithm { header.algorithm }

    // MARK: - Validation

    /// Parses and fully validates `token` (JWT-SVID.md §3 and §5, SPIRE's ValidateJWTSVID,
    /// go-spiffe's `jwtsvid.ParseAndValidate`), in this order:
    /// 1. size ≤ `Limits.jwtBytesMax`, compact form with exactly three parts;
    /// 2. header holds only `alg`, `kid`, `typ`; `alg` is an RS/ES/PS algorithm; `kid` is a
    ///    non-empty string; `typ`, if present, is `JWT` or `JOSE`;
    /// 3. `sub` is a SPIFFE ID; `aud` is a non-empty string or list of strings; `exp` is a number;
    ///    `iat` and `nbf`, if present, are numbers;
    /// 4. the key is found by (trust domain of `sub`, `kid`) in `bundles` — no bundle is
    ///    `.noBundle`, no key is `.unknownKey` — its type must suit `alg`
    ///    (`.algorithmKeyMismatch`) and the signature must verify (`.signatureInvalid`);
    /// 5. at `time`, allowing `Limits.jwtClockSkewLeewaySeconds`: not expired (`.jwtExpired`),
    ///    `nbf`/`iat` not in the future (`.jwtNotYetValid`);
    /// 6. `aud` contains `audience` (`.audienceMismatch`).
    public init(
        parsing token: String, bundles: some JWTBundleSource, audience: String, at time: Date
    ) throws(SPIFFEError) {
        let parts = try Self.parse(token)
        guard let bundle = bundles.jwtBundle(for: parts.svid.id.trustDomain) else {
            throw SPIFFEError(.noBundle, "no JWT bundle for trust domain \(parts.svid.id.trustDomain)")
        }
        guard let key = bundle.authority(for: parts.svid.keyID) else {
            throw SPIFFEError(
                .unknownKey,
                "no JWT authority with key ID \"\(parts.svid.keyID.prefix(64))\" in the bundle of \(bundle.trustDomain)")
        }
        try parts.svid.algorithm.verify(signature: parts.signature, signingInput: parts.signingInput, key: key)
        try parts.svid.validate(audience: audience, at: time)
        self = parts.svid
    }

    /// Parses `token` and checks its structure, header and claims — including expiry at `time`
    /// and `audience` — but NOT its signature (go-spiffe's `jwtsvid.ParseInsecure`). Only for
    /// tokens whose authenticity is established another way.
    public init(parsingInsecure token: String, audience: String, at time: Date) throws(SPIFFEError) {
        let parts = try Self.parse(token)
        try parts.svid.validate(audience: audience, at: time)
        self = parts.svid
    }

    /// Step 5 and 6 of validation.
    func validate(audience expected: String, at time: Date) throws(SPIFFEError) {
        let now = time.timeIntervalSince1970
        let leeway = Double(Limits.jwtClockSkewLeewaySeconds)
        if now - leeway > expiresAt.timeIntervalSince1970 {
            throw SPIFFEError(.jwtExpired, "JWT-SVID expired at \(expiresAt)")
        }
        if let notBefore = claims["nbf"]?.numberValue, now + leeway < notBefore.doubleValue {
            throw SPIFFEError(.jwtNotYetValid, "JWT-SVID is not valid before \(notBefore)")
        }
        if let issuedAt, now + leeway < issuedAt.timeIntervalSince1970 {
            throw SPIFFEError(.jwtNotYetValid, "JWT-SVID was issued in the future (\(issuedAt))")
        }
        if !audience.contains(expected) {
            throw SPIFFEError(.audienceMismatch, "JWT-SVID audience does not contain \"\(expected.prefix(128))\"")
        }
    }

    /// A parsed token before any key or time check.
    struct Parts {
        let svid: JWTSVID
        let signingInput: [UInt8]
        let signature: [UInt8]
    }

    /// Steps 1–3 of validation.
    static func parse(_ token: String) throws(SPIFFEError) -> Parts {
        if token.utf8.count > Limits.jwtBytesMax {
            throw SPIFFEError(.inputTooLarge, "JWT is larger than \(Limits.jwtBytesMax) bytes")
        }
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3 else {
            throw SPIFFEError(.malformedJWT, "JWT must be JWS compact serialisation with 3 parts, has \(segments.count)")
        }
        let header = try parseHeader(decodeObject(segments[0], part: "header"))
        let claims = try decodeObject(segments[1], part: "payload")
        guard let signature = Base64.decode(Substring(segments[2]), alphabet: .url) else {
            throw SPIFFEError(.malformedJWT, "JWT signature is not base64url without padding")
        }
        let svid = try JWTSVID(header: header, claims: claims, token: token)
        let signingInput = Array(token.utf8[segments[0].startIndex..<segments[1].endIndex])
        return Parts(svid: svid, signingInput: signingInput, signature: signature)
    }

    private static func decodeObject(_ segment: Substring.UTF8View.SubSequence, part: String) throws(SPIFFEError) -> [String: JSONValue] {
        guard let bytes = Base64.decode(Substring(segment), alphabet: .url) else {
            throw SPIFFEError(.malformedJWT, "JWT \(part) is not base64url without padding")
        }
        guard let object = try JSONValue(parsing: bytes, errorCode: .malformedJWT).objectValue else {
            throw SPIFFEError(.malformedJWT, "JWT \(part) is not a JSON object")
        }
        return object
    }

    private static func parseHeader(_ members: [String: JSONValue]) throws(SPIFFEError) -> Header {
        for name in members.keys where !["alg", "kid", "typ"].contains(name) {
            throw SPIFFEError(.invalidJWTHeader, "JWT-SVID header parameter \"\(name.prefix(32))\" is not allowed")
        }
        guard let algorithmName = members["alg"]?.stringValue else {
            throw SPIFFEError(.invalidJWTHeader, "JWT header has no string \"alg\"")
        }
        guard let algorithm = JWTAlgorithm(rawValue: algorithmName) else {
            throw SPIFFEError(.unsupportedAlgorithm, "JWT algorithm \"\(algorithmName.prefix(32))\" is not allowed for JWT-SVIDs")
        }
        guard let keyID = members["kid"]?.stringValue, !keyID.isEmpty else {
            throw SPIFFEError(.invalidJWTHeader, "JWT header has no non-empty string \"kid\"")
        }
        var type: String?
        if let value = members["typ"] {
            guard let string = value.stringValue, string == "JWT" || string == "JOSE" else {
                throw SPIFFEError(.invalidJWTHeader, "JWT header \"typ\" must be JWT or JOSE")
            }
            type = string
        }
        return Header(algorithm: algorithm, keyID: keyID, type: type)
    }

    /// Checks the claims of step 3 and builds the value.
    private init(header: Header, claims: [String: JSONValue], token: String) throws(SPIFFEError) {
        guard let subject = claims["sub"]?.stringValue else {
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID has no string \"sub\" claim")
        }
        do {
            self.id = try SPIFFEID(parsing: subject)
        } catch {
            throw SPIFFEError(.invalidSPIFFEID, "JWT-SVID \"sub\": \(error)")
        }
        self.audience = try Self.audience(claims["aud"])
        guard let expiry = claims["exp"] else {
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID has no \"exp\" claim")
        }
        self.expiresAt = try Self.numericDate(expiry, name: "exp")
        self.issuedAt = try claims["iat"].map { value throws(SPIFFEError) in try Self.numericDate(value, name: "iat") }
        if let notBefore = claims["nbf"] { _ = try Self.numericDate(notBefore, name: "nbf") }
        self.header = header
        self.claims = claims
        self.token = token
    }

    private static func audience(_ value: JSONValue?) throws(SPIFFEError) -> [String] {
        var audience: [String] = []
        switch value {
        case .string(let single)?:
            audience = [single]
        case .array(let elements)?:
            if elements.count > Limits.jwtAudiencesMax {
                throw SPIFFEError(.inputTooLarge, "JWT-SVID has more than \(Limits.jwtAudiencesMax) audiences")
            }
            for element in elements {
                guard let string = element.stringValue else {
                    throw SPIFFEError(.invalidJWTClaims, "JWT-SVID \"aud\" holds a value that is not a string")
                }
                audience.append(string)
            }
        case nil:
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID has no \"aud\" claim")
        default:
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID \"aud\" is neither a string nor a list of strings")
        }
        if audience.isEmpty { throw SPIFFEError(.invalidJWTClaims, "JWT-SVID \"aud\" is empty") }
        return audience
    }

    /// A NumericDate (RFC 7519 §2): seconds since the epoch. Fractions are truncated, as go-jose
    /// does; values beyond ±10^15 s are rejected.
    private static func numericDate(_ value: JSONValue, name: String) throws(SPIFFEError) -> Date {
        guard let number = value.numberValue else {
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID \"\(name)\" is not a number")
        }
        let seconds = number.int64Value.map(Double.init) ?? number.doubleValue.rounded(.towardZero)
        guard seconds.isFinite, abs(seconds) <= 1e15 else {
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID \"\(name)\" is out of range")
        }
        return Date(timeIntervalSince1970: seconds)
    }
}
