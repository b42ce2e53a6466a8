import SPIFFE

/// A registration entry: which SPIFFE ID a workload (or node) matching all `selectors` under
/// `parentID` receives, and how its SVIDs are shaped. Field for field SPIRE's `types.Entry`.
///
/// A value in hand is structurally valid only after `validate()` (the codec checks it on both
/// encode and decode); the server layers policy on top (reserved `/spire` paths, trust domain).
public struct RegistrationEntry: Hashable, Sendable {
    public var id: RegistrationEntryID
    public var spiffeID: SPIFFEID
    /// The agent or node alias whose holder may fetch SVIDs for this entry.
    public var parentID: SPIFFEID
    /// All must match; order is kept as given, duplicates are rejected.
    public var selectors: [Selector]
    /// 0 means the server's default TTL, as in SPIRE.
    public var x509SVIDTTLSeconds: Int32
    /// 0 means the server's default TTL, as in SPIRE.
    public var jwtSVIDTTLSeconds: Int32
    public var federatesWith: [TrustDomain]
    /// Holders may call the admin APIs.
    public var admin: Bool
    /// Holders may mint downstream CAs (nested tiers).
    public var downstream: Bool
    /// After this time the entry no longer authorizes anything; nil means never.
    public var expiresAt: Timestamp?
    public var dnsNames: [String]
    /// Per-entry counter, incremented on every update (SPIRE's `revision_number`), distinct from
    /// the global `Revision`.
    public var revisionNumber: Int64
    /// Free-form text for the workload to tell SVIDs apart (SPIRE's `hint`).
    public var hint: String
    public var createdAt: Timestamp

    public init(
        id: RegistrationEntryID,
        spiffeID: SPIFFEID,
        parentID: SPIFFEID,
        selectors: [Selector],
        x509SVIDTTLSeconds: Int32 = 0,
        jwtSVIDTTLSeconds: Int32 = 0,
        federatesWith: [TrustDomain] = [],
        admin: Bool = false,
        downstream: Bool = false,
        expiresAt: Timestamp? = nil,
        dnsNames: [String] = [],
        revisionNumber: Int64 = 0,
        hint: String = "",
        createdAt: Timestamp
    ) {
        self.id = id
        self.spiffeID = spiffeID
        self.parentID = parentID
        self.selectors = selectors
        self.x509SVIDTTLSeconds = x509SVIDTTLSeconds
        self.jwtSVIDTTLSeconds = jwtSVIDTTLSeconds
        self.federatesWith = federatesWith
        self.admin = admin
        self.downstream = downstream
        self.expiresAt = expiresAt
        self.dnsNames = dnsNames
        self.revisionNumber = revisionNumber
        self.hint = hint
        self.createdAt = createdAt
    }

    /// Checks the bounds and rules the log relies on: at least one selector and no duplicates,
    /// bounded lists, non-negative TTLs and revision, DNS names of host-name characters.
    /// Errors name the field (`selectors[3]`, `dns_names[0]`).
    public func validate() throws(ValidationError) {
        if selectors.isEmpty { throw ValidationError(field: "selectors", .empty) }
        if selectors.count > Limits.selectorsPerEntryMax {
            throw ValidationError(field: "selectors", .tooMany(max: Limits.selectorsPerEntryMax))
        }
        if Set(selectors).count != selectors.count { throw ValidationError(field: "selectors", .duplicate) }
        if x509SVIDTTLSeconds < 0 { throw ValidationError(field: "x509_svid_ttl_seconds", .negative) }
        if jwtSVIDTTLSeconds < 0 { throw ValidationError(field: "jwt_svid_ttl_seconds", .negative) }
        if federatesWith.count > Limits.federatesWithPerEntryMax {
            throw ValidationError(field: "federates_with", .tooMany(max: Limits.federatesWithPerEntryMax))
        }
        if Set(federatesWith).count != federatesWith.count {
            throw ValidationError(field: "federates_with", .duplicate)
        }
        if dnsNames.count > Limits.dnsNamesPerEntryMax {
            throw ValidationError(field: "dns_names", .tooMany(max: Limits.dnsNamesPerEntryMax))
        }
        for (index, name) in dnsNames.enumerated() {
            try TextRule.check(
                name, field: "dns_names[\(index)]", maxBytes: Limits.dnsNameBytesMax,
                allowed: { TextRule.isNameByte($0) || $0 == UInt8(ascii: "*") })
        }
        if revisionNumber < 0 { throw ValidationError(field: "revision_number", .negative) }
        if hint.utf8.count > Limits.hintBytesMax {
            throw ValidationError(field: "hint", .tooLong(maxBytes: Limits.hintBytesMax))
        }
        for byte in hint.utf8 where !TextRule.isNotControl(byte) {
            throw ValidationError(field: "hint", .invalidCharacter)
        }
    }
}
