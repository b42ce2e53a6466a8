import X509

/// A SPIFFE bundle: every authority of one trust domain, X.509 and JWT, plus the federation
/// metadata (SPIFFE_Trust_Domain_and_Bundle.md §4, go-spiffe's `spiffebundle.Bundle`).
///
/// The JSON form is an RFC 7517 JWK Set with two extra members:
/// - `keys` MUST be present and may be empty (an empty set distrusts every SVID of the domain);
/// - each JWK has `use` `x509-svid` (exactly one `x5c` certificate, whose key must match the JWK)
///   or `jwt-svid` (a non-empty `kid`); a JWK with an unknown `kty`/`crv`, or a missing or
///   unknown `use` (including `wit-svid`, which this module does not validate), is ignored;
/// - `spiffe_sequence` (an unsigned 64-bit integer) and `spiffe_refresh_hint` (whole seconds).
public struct SPIFFEBundle: Hashable, Sendable {
    public let trustDomain: TrustDomain
    /// X.509 authorities in insertion order, without duplicates.
    public private(set) var x509Authorities: [Certificate]
    /// JWT authorities by non-empty key ID.
    public private(set) var jwtAuthorities: [String: Certificate.PublicKey]
    /// `spiffe_sequence`: increases with every change of the bundle (§4.1.1).
    public var sequenceNumber: UInt64?
    /// `spiffe_refresh_hint`: how often consumers should poll for a new bundle, in seconds (§4.1.2).
    public var refreshHintSeconds: Int64?

    public init(
        trustDomain: TrustDomain, x509Authorities: [Certificate] = [],
        jwtAuthorities: [String: Certificate.PublicKey] = [:],
        sequenceNumber: UInt64? = nil, refreshHintSeconds: Int64? = nil
    ) throws(SPIFFEError) {
        let jwtBundle = try JWTBundle(trustDomain: trustDomain, authorities: jwtAuthorities)
        self.trustDomain = trustDomain
        self.x509Authorities = X509Bundle(trustDomain: trustDomain, authorities: x509Authorities).authorities
        self.jwtAuthorities = jwtBundle.authorities
        self.sequenceNumber = sequenceNumber
        self.refreshHintSeconds = refreshHintSeconds
    }

    /// Used when the authorities are already known to be valid (deduplicated, key IDs non-empty).
    init(
        trustDomain: TrustDomain, validatedX509Authorities: [Certificate],
        jwtAuthorities: [String: Certificate.PublicKey]
    ) {
        precondition(!jwtAuthorities.keys.contains(""), "JWT authority key IDs must be non-empty")
        self.trustDomain = trustDomain
        self.x509Authorities = validatedX509Authorities
        self.jwtAuthorities = jwtAuthorities
        self.sequenceNumber = nil
        self.refreshHintSeconds = nil
    }

    /// A SPIFFE bundle holding the authorities of `x509Bundle` and `jwtBundle`, whose trust
    /// domains must both be `trustDomain`.
    public init(
        trustDomain: TrustDomain, x509Bundle: X509Bundle? = nil, jwtBundle: JWTBundle? = nil
    ) throws(SPIFFEError) {
        for other in [x509Bundle?.trustDomain, jwtBundle?.trustDomain].compactMap({ $0 }) where other != trustDomain {
            throw SPIFFEError(.malformedBundle, "bundle of \(other) cannot be part of the bundle of \(trustDomain)")
        }
        self.trustDomain = trustDomain
        self.x509Authorities = x509Bundle?.authorities ?? []
        self.jwtAuthorities = jwtBundle?.authorities ?? [:]
        self.sequenceNumber = nil
        self.refreshHintSeconds = nil
    }

    /// Parses a SPIFFE bundle document (§4) for `trustDomain`, bounded by
    /// `Limits.bundleJSONBytesMax` and `Limits.bundleKeysMax`.
    public init(trustDomain: TrustDomain, jsonEncoded bytes: some Collection<UInt8>) throws(SPIFFEError) {
        if bytes.count > Limits.bundleJSONBytesMax {
            throw SPIFFEError(.inputTooLarge, "SPIFFE bundle is larger than \(Limits.bundleJSONBytesMax) bytes")
        }
        try self.init(trustDomain: trustDomain, jsonValue: JSONValue(parsing: bytes, errorCode: .malformedBundle))
    }

    /// Decodes an already parsed SPIFFE bundle document (used for bundle-map entries).
    init(trustDomain: TrustDomain, jsonValue document: JSONValue) throws(SPIFFEError) {
        let keys = try JWTBundle.keyObjects(of: document)
        self.init(trustDomain: trustDomain, validatedX509Authorities: [], jwtAuthorities: [:])
        for (index, members) in keys.enumerated() {
            // Unknown or missing `use` means the whole JWK is ignored (§4.2.2).
            guard let use = members["use"]?.stringValue, use == JWK.x509SVIDUse || use == JWK.jwtSVIDUse else {
                continue
            }
            let jwk: JWK
            do throws(SPIFFEError) {
                jwk = try JWK(jsonObject: members)
            } catch where error.code == .unsupportedKeyType {
                continue
            }
            if use == JWK.x509SVIDUse {
                guard jwk.certificates.count == 1 else {
                    throw SPIFFEError(
                        .malformedBundle,
                        "x509-svid key \(index) must have exactly one x5c certificate, has \(jwk.certificates.count)")
                }
                addX509Authority(jwk.certificates[0])
            } else {
                guard let keyID = jwk.keyID, !keyID.isEmpty else {
                    throw SPIFFEError(.malformedBundle, "jwt-svid key \(index) has no \"kid\"")
                }
                if jwtAuthorities[keyID] != nil {
                    throw SPIFFEError(.malformedBundle, "jwt-svid key ID \"\(keyID.prefix(64))\" appears twice")
                }
                jwtAuthorities[keyID] = jwk.publicKey
            }
        }
        // go-spiffe reads both members as plain JSON integers; null is treated as absent.
        let root = document.objectValue ?? [:]
        if let sequence = root["spiffe_sequence"], sequence != .null {
            guard let value = sequence.numberValue?.uint64Value else {
                throw SPIFFEError(.malformedBundle, "\"spiffe_sequence\" is not an unsigned 64-bit integer")
            }
            sequenceNumber = value
        }
        if let hint = root["spiffe_refresh_hint"], hint != .null {
            guard let value = hint.numberValue?.int64Value, value >= 0 else {
                throw SPIFFEError(.malformedBundle, "\"spiffe_refresh_hint\" is not a non-negative integer")
            }
            refreshHintSeconds = value
        }
    }

    /// The document as a JSON value: X.509 authorities first (insertion order), then JWT
    /// authorities sorted by key ID; members of every object sorted by name.
    public func jsonValue() throws(SPIFFEError) -> JSONValue {
        var keys: [JSONValue] = []
        for authority in x509Authorities {
            keys.append(.object(try JWK(x509Authority: authority).jsonObject()))
        }
        for (keyID, key) in jwtAuthorities.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            keys.append(.object(try JWK(publicKey: key, keyID: keyID, use: JWK.jwtSVIDUse).jsonObject()))
        }
        var root: [String: JSONValue] = ["keys": .array(keys)]
        if let sequenceNumber { root["spiffe_sequence"] = .number(JSONNumber(sequenceNumber)) }
        if let refreshHintSeconds { root["spiffe_refresh_hint"] = .number(JSONNumber(refreshHintSeconds)) }
        return .object(root)
    }

    /// The deterministic JSON encoding, so equal bundles encode to equal bytes.
    public func jsonEncoded() throws(SPIFFEError) -> [UInt8] {
        try jsonValue().encoded
    }

    // MARK: - Authorities

    public mutating func addX509Authority(_ authority: Certificate) {
        if !x509Authorities.contains(authority) { x509Authorities.append(authority) }
    }

    public mutating func removeX509Authority(_ authority: Certificate) {
        x509Authorities.removeAll { $0 == authority }
    }

    /// Adds or replaces the JWT authority for `keyID`, which must not be empty.
    public mutating func addJWTAuthority(keyID: String, publicKey: Certificate.PublicKey) throws(SPIFFEError) {
        if keyID.isEmpty { throw SPIFFEError(.malformedBundle, "JWT authority key ID cannot be empty") }
        jwtAuthorities[keyID] = publicKey
    }

    public mutating func removeJWTAuthority(keyID: String) {
        jwtAuthorities[keyID] = nil
    }

    /// Replaces every X.509 authority (go-spiffe's `SetX509Authorities`).
    public mutating func setX509Authorities(_ authorities: [Certificate]) {
        x509Authorities = X509Bundle(trustDomain: trustDomain, authorities: authorities).authorities
    }

    /// Replaces every JWT authority with those of `bundle` (go-spiffe's `SetJWTAuthorities`).
    public mutating func setJWTAuthorities(_ bundle: JWTBundle) {
        jwtAuthorities = bundle.authorities
    }

    /// True when the bundle trusts nothing.
    public var isEmpty: Bool { x509Authorities.isEmpty && jwtAuthorities.isEmpty }

    // MARK: - Conversions

    /// The X.509 part (go-spiffe's `X509Bundle()`).
    public var x509Bundle: X509Bundle { X509Bundle(trustDomain: trustDomain, authorities: x509Authorities) }

    /// The JWT part (go-spiffe's `JWTBundle()`); key IDs are non-empty by construction.
    public var jwtBundle: JWTBundle {
        JWTBundle(trustDomain: trustDomain, validatedAuthorities: jwtAuthorities)
    }
}

/// Something that can hand out the SPIFFE bundle of a trust domain (go-spiffe's
/// `spiffebundle.Source`).
public protocol SPIFFEBundleSource {
    func spiffeBundle(for trustDomain: TrustDomain) -> SPIFFEBundle?
}

extension SPIFFEBundle: SPIFFEBundleSource, X509BundleSource, JWTBundleSource {
    /// A bundle is a source of itself, for its own trust domain only.
    public func spiffeBundle(for trustDomain: TrustDomain) -> SPIFFEBundle? {
        trustDomain == self.trustDomain ? self : nil
    }

    public func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle? {
        trustDomain == self.trustDomain ? x509Bundle : nil
    }

    public func jwtBundle(for trustDomain: TrustDomain) -> JWTBundle? {
        trustDomain == self.trustDomain ? jwtBundle : nil
    }
}
