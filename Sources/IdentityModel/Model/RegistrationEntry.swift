import SPIFFE

/// A registration entry: which SPIFFE ID a workload (or node) matching all `selectors` under
/// `parentID` receives, and how its SVIDs are shaped. Field for field SPIRE's `types.Entry`.
///
/// A value in hand is structurally valid only after `validate()` (the codec checks it on both
/// encode and decode); the server layers policy on top (reserved `/spire` paths, trust domain).
public struct RegistrationEntry: Hashable, Sendable {
    /// The fields, as stored. Kept behind one reference so that a copy of an entry costs one
    /// retain, not one per string and array: the projections keep entries inline in persistent
    /// tries, and every insert copies the trie nodes on its path (up to 32 entries each) while
    /// every freed version releases them again. Profiles of a follower put those copies and
    /// releases at a third of its CPU before the box.
    private struct Fields: Hashable, Sendable {
        var id: RegistrationEntryID
        var spiffeID: SPIFFEID
        var parentID: SPIFFEID
        var selectors: [Selector]
        var x509SVIDTTLSeconds: Int32
        var jwtSVIDTTLSeconds: Int32
        var federatesWith: [TrustDomain]
        var admin: Bool
        var downstream: Bool
        var expiresAt: Timestamp?
        var dnsNames: [String]
        var revisionNumber: Int64
        var hint: String
        var createdAt: Timestamp
    }

    /// Mutated only while uniquely referenced (`writableFields`), so sharing it across threads
    /// is sharing an immutable value.
    private final class Box: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box

    private var writableFields: Fields {
        get { box.fields }
        _modify {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.fields) }
            yield &box.fields
        }
    }

    public var id: RegistrationEntryID {
        get { box.fields.id }
        set { writableFields.id = newValue }
    }
    public var spiffeID: SPIFFEID {
        get { box.fields.spiffeID }
        set { writableFields.spiffeID = newValue }
    }
    /// The agent or node alias whose holder may fetch SVIDs for this entry.
    public var parentID: SPIFFEID {
        get { box.fields.parentID }
        set { writableFields.parentID = newValue }
    }
    /// All must match; order is kept as given, duplicates are rejected.
    public var selectors: [Selector] {
        get { box.fields.selectors }
        _modify { yield &writableFields.selectors }
    }
    /// 0 means the server's default TTL, as in SPIRE.
    public var x509SVIDTTLSeconds: Int32 {
        get { box.fields.x509SVIDTTLSeconds }
        set { writableFields.x509SVIDTTLSeconds = newValue }
    }
    /// 0 means the server's default TTL, as in SPIRE.
    public var jwtSVIDTTLSeconds: Int32 {
        get { box.fields.jwtSVIDTTLSeconds }
        set { writableFields.jwtSVIDTTLSeconds = newValue }
    }
    public var federatesWith: [TrustDomain] {
        get { box.fields.federatesWith }
        _modify { yield &writableFields.federatesWith }
    }
    /// Holders may call the admin APIs.
    public var admin: Bool {
        get { box.fields.admin }
        set { writableFields.admin = newValue }
    }
    /// Holders may mint downstream CAs (nested tiers).
    public var downstream: Bool {
        get { box.fields.downstream }
        set { writableFields.downstream = newValue }
    }
    /// After this time the entry no longer authorizes anything; nil means never.
    public var expiresAt: Timestamp? {
        get { box.fields.expiresAt }
        set { writableFields.expiresAt = newValue }
    }
    public var dnsNames: [String] {
        get { box.fields.dnsNames }
        _modify { yield &writableFields.dnsNames }
    }
    /// Per-entry counter, incremented on every update (SPIRE's `revision_number`), distinct from
    /// the global `Revision`.
    public var revisionNumber: Int64 {
        get { box.fields.revisionNumber }
        set { writableFields.revisionNumber = newValue }
    }
    /// Free-form text for the workload to tell SVIDs apart (SPIRE's `hint`).
    public var hint: String {
        get { box.fields.hint }
        set { writableFields.hint = newValue }
    }
    public var createdAt: Timestamp {
        get { box.fields.createdAt }
        set { writableFields.createdAt = newValue }
    }

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
        box = Box(Fields(
            id: id, spiffeID: spiffeID, parentID: parentID, selectors: selectors,
            x509SVIDTTLSeconds: x509SVIDTTLSeconds, jwtSVIDTTLSeconds: jwtSVIDTTLSeconds,
            federatesWith: federatesWith, admin: admin, downstream: downstream, expiresAt: expiresAt,
            dnsNames: dnsNames, revisionNumber: revisionNumber, hint: hint, createdAt: createdAt))
    }

    public static func == (lhs: RegistrationEntry, rhs: RegistrationEntry) -> Bool {
        lhs.box === rhs.box || lhs.box.fields == rhs.box.fields
    }

    public func hash(into hasher: inout Hasher) {
        box.fields.hash(into: &hasher)
    }

    /// Checks the bounds and rules the log relies on: at least one selector and no duplicates,
    /// bounded lists, non-negative TTLs and revision, DNS names of host-name characters.
    /// Errors name the field (`selectors[3]`, `dns_names[0]`).
    public func validate() throws(ValidationError) {
        if selectors.isEmpty { throw ValidationError(field: "selectors", .empty) }
        if selectors.count > Limits.selectorsPerEntryMax {
            throw ValidationError(field: "selectors", .tooMany(max: Limits.selectorsPerEntryMax))
        }
        if selectors.hasDuplicates { throw ValidationError(field: "selectors", .duplicate) }
        if x509SVIDTTLSeconds < 0 { throw ValidationError(field: "x509_svid_ttl_seconds", .negative) }
        if jwtSVIDTTLSeconds < 0 { throw ValidationError(field: "jwt_svid_ttl_seconds", .negative) }
        if federatesWith.count > Limits.federatesWithPerEntryMax {
            throw ValidationError(field: "federates_with", .tooMany(max: Limits.federatesWithPerEntryMax))
        }
        if federatesWith.hasDuplicates {
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

extension Array where Element: Hashable {
    /// Whether two elements are equal. Entries hold a handful of selectors and trust domains,
    /// and every decoded event checks them, so short arrays are compared pairwise instead of
    /// hashed into a set.
    var hasDuplicates: Bool {
        guard count > 16 else {
            return indices.contains { i in self[(i + 1)...].contains(self[i]) }
        }
        return Set(self).count != count
    }
}
