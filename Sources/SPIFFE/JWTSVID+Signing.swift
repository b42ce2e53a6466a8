import Foundation

extension JWTSVID {
    /// Mints a JWT-SVID the way SPIRE does (JWT-SVID.md §2–§3, SPIFFE-WIRE §2.3):
    /// header exactly `{"alg","kid","typ":"JWT"}`; claims `sub`, `aud` (always a list), `exp`,
    /// `iat`, plus `iss` and `jti` when given and any `extraClaims`.
    ///
    /// Times are truncated to whole seconds. `audience` must hold 1…`Limits.jwtAudiencesMax`
    /// non-empty values, `keyID` must be non-empty, `expiresAt` must be after `issuedAt`, and
    /// `extraClaims` may not name a registered claim (`registeredClaimNames`). The token is
    /// parsed back before it is returned, so a minted SVID always passes structural validation.
    public static func sign(
        subject: SPIFFEID,
        audience: [String],
        expiresAt: Date,
        issuedAt: Date,
        keyID: String,
        signer: some JWTSigner,
        issuer: String? = nil,
        jwtID: String? = nil,
        extraClaims: [String: JSONValue] = [:]
    ) throws(SPIFFEError) -> JWTSVID {
        if audience.isEmpty || audience.contains(where: \.isEmpty) {
            throw SPIFFEError(.invalidJWTClaims, "a JWT-SVID needs at least one non-empty audience")
        }
        if audience.count > Limits.jwtAudiencesMax {
            throw SPIFFEError(.inputTooLarge, "a JWT-SVID may carry at most \(Limits.jwtAudiencesMax) audiences")
        }
        if keyID.isEmpty { throw SPIFFEError(.invalidJWTHeader, "a JWT-SVID needs a non-empty key ID") }
        for name in extraClaims.keys where registeredClaimNames.contains(name) {
            throw SPIFFEError(.invalidJWTClaims, "extra claim \"\(name)\" would override a registered claim")
        }
        for time in [expiresAt, issuedAt] where !(abs(time.timeIntervalSince1970) <= 1e15) {
            throw SPIFFEError(.invalidJWTClaims, "JWT-SVID time \(time) is out of range")
        }
        let expirySeconds = Int64(expiresAt.timeIntervalSince1970.rounded(.down))
        let issuedSeconds = Int64(issuedAt.timeIntervalSince1970.rounded(.down))
        if expirySeconds <= issuedSeconds {
            throw SPIFFEError(.invalidJWTClaims, "a JWT-SVID must expire after it is issued")
        }

        let header: JSONValue = .object([
            "alg": .string(signer.algorithm.name), "kid": .string(keyID), "typ": .string("JWT"),
        ])
        var claims = extraClaims
        claims["sub"] = .string(subject.string)
        claims["aud"] = .array(audience.map(JSONValue.string))
        claims["exp"] = .number(JSONNumber(expirySeconds))
        claims["iat"] = .number(JSONNumber(issuedSeconds))
        if let issuer { claims["iss"] = .string(issuer) }
        if let jwtID { claims["jti"] = .string(jwtID) }

        let signingInput = Base64.encode(header.encoded, alphabet: .url) + "."
            + Base64.encode(JSONValue.object(claims).encoded, alphabet: .url)
        let signature = try signer.signature(for: Array(signingInput.utf8))
        let token = signingInput + "." + Base64.encode(signature, alphabet: .url)

        // Pair check: what we mint must parse as what we meant to mint.
        let parsed = try parse(token).svid
        precondition(parsed.id == subject && parsed.audience == audience, "minted JWT-SVID does not parse back")
        precondition(parsed.keyID == keyID && parsed.algorithm == signer.algorithm, "minted JWT-SVID header is wrong")
        return parsed
    }
}
