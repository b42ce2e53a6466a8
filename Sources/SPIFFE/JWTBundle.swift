import X509

/// The JWT authorities of one trust domain: the public keys, by key ID, that JWT-SVIDs of that
/// trust domain must be signed with (JWT-SVID.md §6, go-spiffe's `jwtbundle.Bundle`).
///
/// Key IDs are non-empty: JWT-SVID validation looks keys up by `kid`, and a key without one
/// could never be selected (SPIFFE_Trust_Domain_and_Bundle.md §4.2.2 requires `kid` for
/// `jwt-svid` keys).
public struct JWTBundle: Hashable, Sendable {
    public let trustDomain: TrustDomain
    public private(set) var authorities: [String: Certificate.PublicKey]

    public init(trustDomain: TrustDomain) {
        self.trustDomain = trustDomain
        self.authorities = [:]
    }

    public init(trustDomain: TrustDomain, authorities: [String: Certificate.PublicKey]) throws(SPIFFEError) {
        self.init(trustDomain: trustDomain)
        if authorities.count > Limits.bundleKeysMax {
            throw SPIFFEError(.inputTooLarge, "more than \(Limits.bundleKeysMax) JWT authorities")
        }
        for (keyID, key) in authorities { try addAuthority(keyID: keyID, publicKey: key) }
    }

    /// Used when every key ID is already known to be non-empty.
    init(trustDomain: TrustDomain, validatedAuthorities: [String: Certificate.PublicKey]) {
        precondition(!validatedAuthorities.keys.contains(""), "JWT authority key IDs must be non-empty")
        self.trustDomain = trustDomain
        self.authorities = validatedAuthorities
    }

    /// Parses a JWKS document as the Workload API's `JWTBundlesResponse` carries it (SPIRE: JWT
    /// keys only, each with `kid`, no `use`; SPIFFE-WIRE §1.4).
    ///
    /// - A key with a `use` other than `jwt-svid` (`x509-svid`, `wit-svid`, anything unknown) is
    ///   ignored, so an X.509 or WIT key is never taken as a JWT authority (py-spiffe #413,
    ///   rust-spiffe #318). A key without `use` is accepted, because that is what SPIRE serves.
    /// - A key with an unsupported `kty`/`crv` is ignored, as SPIFFE bundles require.
    /// - An accepted key without a non-empty `kid` is an error, like go-spiffe; so is a `kid`
    ///   that appears twice, because which key it selects would be ambiguous.
    /// - A full SPIFFE bundle document parses too (its JWT part is taken).
    public init(trustDomain: TrustDomain, jsonEncoded bytes: some Collection<UInt8>) throws(SPIFFEError) {
        if bytes.count > Limits.bundleJSONBytesMax {
            throw SPIFFEError(.inputTooLarge, "JWKS is larger than \(Limits.bundleJSONBytesMax) bytes")
        }
        let document = try JSONValue(parsing: bytes, errorCode: .malformedBundle)
        let keys = try Self.keyObjects(of: document)
        self.init(trustDomain: trustDomain)
        for (index, members) in keys.enumerated() {
            if let use = members["use"], use != .string(JWK.jwtSVIDUse) { continue }
            let jwk: JWK
            do throws(SPIFFEError) {
                jwk = try JWK(jsonObject: members)
            } catch where error.code == .unsupportedKeyType {
                continue
            }
            guard let keyID = jwk.keyID, !keyID.isEmpty else {
                throw SPIFFEError(.malformedBundle, "JWKS key \(index) has no \"kid\"")
            }
            if authorities[keyID] != nil {
                throw SPIFFEError(.malformedBundle, "JWKS key ID \"\(keyID.prefix(64))\" appears twice")
            }
            authorities[keyID] = jwk.publicKey
        }
    }

    /// The `keys` array of a JWKS or SPIFFE bundle document: required, an array of objects, at
    /// most `Limits.bundleKeysMax` long (go-spiffe errors when `keys` is absent or null).
    static func keyObjects(of document: JSONValue) throws(SPIFFEError) -> [[String: JSONValue]] {
        guard let root = document.objectValue else {
            throw SPIFFEError(.malformedBundle, "bundle document is not a JSON object")
        }
        guard let keys = root["keys"]?.arrayValue else {
            throw SPIFFEError(.malformedBundle, "bundle document has no \"keys\" array")
        }
        if keys.count > Limits.bundleKeysMax {
            throw SPIFFEError(.inputTooLarge, "bundle has more than \(Limits.bundleKeysMax) keys")
        }
        var objects: [[String: JSONValue]] = []
        for (index, key) in keys.enumerated() {
            guard let members = key.objectValue else {
                throw SPIFFEError(.malformedBundle, "bundle key \(index) is not a JSON object")
            }
            objects.append(members)
        }
        return objects
    }

    /// The JWKS encoding SPIRE serves on the Workload API: `{"keys":[…]}`, keys sorted by key ID,
    /// each with `kid` and no `use`.
    public func jsonEncoded() throws(SPIFFEError) -> [UInt8] {
        var keys: [JSONValue] = []
        for (keyID, key) in authorities.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            var members = try JWK.encode(key)
            members["kid"] = .string(keyID)
            keys.append(.object(members))
        }
        return JSONValue.object(["keys": .array(keys)]).encoded
    }

    /// The key for `keyID`, if the bundle has one.
    public func authority(for keyID: String) -> Certificate.PublicKey? { authorities[keyID] }

    /// Adds or replaces the key for `keyID`, which must not be empty.
    public mutating func addAuthority(keyID: String, publicKey: Certificate.PublicKey) throws(SPIFFEError) {
        if keyID.isEmpty { throw SPIFFEError(.malformedBundle, "JWT authority key ID cannot be empty") }
        authorities[keyID] = publicKey
    }

    public mutating func removeAuthority(keyID: String) {
        authorities[keyID] = nil
    }

    public var isEmpty: Bool { authorities.isEmpty }
}

/// Something that can hand out the JWT bundle of a trust domain: a single bundle, a bundle set,
/// or a live source fed by the Workload API (go-spiffe's `jwtbundle.Source`). JWT-SVID
/// validation depends only on this.
public protocol JWTBundleSource {
    /// The bundle for `trustDomain`, or nil when none is known (its JWT-SVIDs are then untrusted).
    func jwtBundle(for trustDomain: TrustDomain) -> JWTBundle?
}

extension JWTBundle: JWTBundleSource {
    /// A bundle is a source of itself, for its own trust domain only.
    public func jwtBundle(for trustDomain: TrustDomain) -> JWTBundle? {
        trustDomain == self.trustDomain ? self : nil
    }
}
