/// Bundles of many trust domains, one per trust domain (go-spiffe's `x509bundle.Set`,
/// `jwtbundle.Set` and `spiffebundle.Set` in one type). It answers X.509, JWT and SPIFFE bundle
/// look-ups, so verification code can take it wherever a bundle source is expected.
///
/// Its JSON form is the SPIFFE bundle map (SPIFFE_Trust_Domain_and_Bundle.md §5):
/// `{"trust_domains": {"<trust domain name>": <SPIFFE bundle>}}`, in which duplicate keys MUST
/// be rejected.
public struct BundleSet: Hashable, Sendable {
    public private(set) var bundles: [TrustDomain: SPIFFEBundle]

    public init() {
        self.bundles = [:]
    }

    /// A set of `bundles`; a later bundle for the same trust domain replaces an earlier one.
    public init(_ bundles: [SPIFFEBundle]) {
        self.init()
        for bundle in bundles { add(bundle) }
    }

    /// Adds `bundle`, replacing any bundle of its trust domain.
    public mutating func add(_ bundle: SPIFFEBundle) {
        bundles[bundle.trustDomain] = bundle
    }

    /// Sets the X.509 authorities of `bundle`'s trust domain, keeping its JWT authorities.
    public mutating func add(_ bundle: X509Bundle) {
        var merged = bundles[bundle.trustDomain] ?? Self.emptyBundle(bundle.trustDomain)
        merged.setX509Authorities(bundle.authorities)
        bundles[bundle.trustDomain] = merged
    }

    /// Sets the JWT authorities of `bundle`'s trust domain, keeping its X.509 authorities.
    public mutating func add(_ bundle: JWTBundle) {
        var merged = bundles[bundle.trustDomain] ?? Self.emptyBundle(bundle.trustDomain)
        merged.setJWTAuthorities(bundle)
        bundles[bundle.trustDomain] = merged
    }

    public mutating func remove(_ trustDomain: TrustDomain) {
        bundles[trustDomain] = nil
    }

    /// The trust domains held, sorted by name.
    public var trustDomains: [TrustDomain] { bundles.keys.sorted() }

    public var count: Int { bundles.count }

    private static func emptyBundle(_ trustDomain: TrustDomain) -> SPIFFEBundle {
        SPIFFEBundle(trustDomain: trustDomain, validatedX509Authorities: [], jwtAuthorities: [:])
    }

    // MARK: - Bundle map

    /// Parses a SPIFFE bundle map (§5).
    ///
    /// - A member name that appears twice anywhere in the document is `.duplicateJSONMember`;
    ///   so is a trust domain named twice in two spellings (`example.org` and
    ///   `spiffe://example.org`, the form SPIRE uses as a Workload API map key).
    /// - Each name must be a trust domain name, optionally with the `spiffe://` prefix and
    ///   nothing after it; each value must be a valid SPIFFE bundle.
    /// - Input is bounded by `Limits.bundleJSONBytesMax` and `Limits.bundleMapTrustDomainsMax`.
    public init(bundleMapJSON bytes: some Collection<UInt8>) throws(SPIFFEError) {
        if bytes.count > Limits.bundleJSONBytesMax {
            throw SPIFFEError(.inputTooLarge, "bundle map is larger than \(Limits.bundleJSONBytesMax) bytes")
        }
        let document = try JSONValue(parsing: bytes, errorCode: .malformedBundle)
        guard let entries = document.objectValue?["trust_domains"]?.objectValue else {
            throw SPIFFEError(.malformedBundle, "bundle map has no \"trust_domains\" object")
        }
        if entries.count > Limits.bundleMapTrustDomainsMax {
            throw SPIFFEError(.inputTooLarge, "bundle map has more than \(Limits.bundleMapTrustDomainsMax) trust domains")
        }
        self.init()
        for (name, value) in entries {
            let trustDomain = try Self.trustDomain(mapKey: name)
            if bundles[trustDomain] != nil {
                throw SPIFFEError(.duplicateJSONMember, "bundle map names trust domain \(trustDomain) twice")
            }
            bundles[trustDomain] = try SPIFFEBundle(trustDomain: trustDomain, jsonValue: value)
        }
    }

    private static func trustDomain(mapKey name: String) throws(SPIFFEError) -> TrustDomain {
        let bare = name.hasPrefix(SPIFFEID.schemePrefix) ? String(name.dropFirst(SPIFFEID.schemePrefix.count)) : name
        do {
            return try TrustDomain(bare)
        } catch {
            throw SPIFFEError(.malformedBundle, "bundle map key is not a trust domain name: \(error)")
        }
    }

    /// The bundle map encoding: trust domains by bare name, members sorted, deterministic.
    /// Refresh hints are left out, as producers SHOULD do inside a map (§5).
    public func bundleMapJSONEncoded() throws(SPIFFEError) -> [UInt8] {
        var entries: [String: JSONValue] = [:]
        for (trustDomain, bundle) in bundles {
            var withoutHint = bundle
            withoutHint.refreshHintSeconds = nil
            entries[trustDomain.name] = try withoutHint.jsonValue()
        }
        return JSONValue.object(["trust_domains": .object(entries)]).encoded
    }
}

extension BundleSet: SPIFFEBundleSource, X509BundleSource, JWTBundleSource {
    public func spiffeBundle(for trustDomain: TrustDomain) -> SPIFFEBundle? { bundles[trustDomain] }

    public func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle? { bundles[trustDomain]?.x509Bundle }

    public func jwtBundle(for trustDomain: TrustDomain) -> JWTBundle? { bundles[trustDomain]?.jwtBundle }
}
