// Re-exported: `IdentityState`'s containers are `TreeDictionary`/`TreeSet`, and every reader of
// the state (server, agent, tools, tests) uses their API.
@_exported import HashTreeCollections
import IdentityModel
import SPIFFE

/// Everything the control plane serves, folded from the log up to `appliedIndex`.
///
/// A value type changed only by `Projector.apply` (or rebuilt by `restore(tables:)`), so a
/// replica, a simulator and `log verify` each hold their own copy and compare `digest()`s. The
/// secondary indexes (by parent, by SPIFFE ID, by selector) are derived from `entries` and kept
/// in step by `insertEntry`/`replaceEntry`/`removeEntry`; they are never stored, only rebuilt.
public struct IdentityState: Equatable, Sendable {
    /// The last log index folded, rejected events included. Strictly increasing.
    public internal(set) var appliedIndex: LogIndex = .zero

    // The containers that grow with the deployment are persistent hash tries, not Dictionary
    // and Set: readers hold the published state while the driver applies the next batch, and a
    // copy-on-write Dictionary would then copy every entry (and every entry ID under a shared
    // parent or selector) once per batch; a trie copies only the paths a change touches.
    public internal(set) var entries: TreeDictionary<RegistrationEntryID, RegistrationEntry> = [:]
    public internal(set) var entriesByParentID: TreeDictionary<SPIFFEID, TreeSet<RegistrationEntryID>> = [:]
    public internal(set) var entriesBySPIFFEID: TreeDictionary<SPIFFEID, TreeSet<RegistrationEntryID>> = [:]
    public internal(set) var entriesBySelector: TreeDictionary<Selector, TreeSet<RegistrationEntryID>> = [:]

    public internal(set) var agents: TreeDictionary<SPIFFEID, AgentRecord> = [:]
    public internal(set) var joinTokens: TreeDictionary<SHA256Digest, JoinTokenRecord> = [:]
    /// `joinTokens` by expiry (derived, never stored), kept in step by `insertJoinToken` and
    /// `removeExpiredJoinTokens`.
    var joinTokenExpiries = ExpiryQueue()

    /// The CA journal, per server and authority.
    public internal(set) var x509Authorities: [AuthorityReference: X509AuthorityRecord] = [:]
    public internal(set) var jwtAuthorities: [AuthorityReference: JWTAuthorityRecord] = [:]
    /// Increases whenever the own trust bundle's content changes (SPIRE's bundle sequence).
    public internal(set) var bundleSequenceNumber: UInt64 = 0

    public internal(set) var federatedBundles: [TrustDomain: FederatedBundle] = [:]
    public internal(set) var clusterMembers: [NodeName: ClusterMember] = [:]

    /// The empty state, before the first log entry.
    public init() {}

    // MARK: - Join tokens

    /// Adds a token that is not present yet.
    mutating func insertJoinToken(_ record: JoinTokenRecord) {
        precondition(joinTokens[record.token.tokenSHA256] == nil, "join token inserted twice")
        joinTokens[record.token.tokenSHA256] = record
        joinTokenExpiries.insert(.init(expiresAt: record.token.expiresAt, token: record.token.tokenSHA256))
    }

    /// Removes every token expired at `now`; returns their hashes in byte order.
    mutating func removeExpiredJoinTokens(at now: Timestamp) -> [SHA256Digest] {
        let expired = joinTokenExpiries.removeExpired(at: now).map(\.token)
        for hash in expired {
            let removed = joinTokens.removeValue(forKey: hash)
            precondition(removed != nil, "join token expiry queue out of step with the tokens")
        }
        return expired.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
    }

    // MARK: - Entry indexes

    /// Adds `entry` and its index rows. The ID must be free.
    mutating func insertEntry(_ entry: RegistrationEntry) {
        precondition(entries[entry.id] == nil, "entry \(entry.id) inserted twice")
        entries[entry.id] = entry
        entriesByParentID[entry.parentID, default: []].insert(entry.id)
        entriesBySPIFFEID[entry.spiffeID, default: []].insert(entry.id)
        for selector in entry.selectors {
            entriesBySelector[selector, default: []].insert(entry.id)
        }
    }

    /// Removes the entry with `id` and its index rows, dropping index keys left empty so that
    /// equal entry sets always give equal indexes. Returns the removed entry.
    @discardableResult
    mutating func removeEntry(_ id: RegistrationEntryID) -> RegistrationEntry {
        guard let entry = entries.removeValue(forKey: id) else {
            preconditionFailure("entry \(id) removed but not present")
        }
        Self.remove(id, from: &entriesByParentID, at: entry.parentID)
        Self.remove(id, from: &entriesBySPIFFEID, at: entry.spiffeID)
        for selector in entry.selectors {
            Self.remove(id, from: &entriesBySelector, at: selector)
        }
        return entry
    }

    /// Replaces the entry with `entry.id` by `entry`, moving only the index rows whose keys
    /// changed: most updates (a TTL, DNS names, a hint) keep the parent, the SPIFFE ID and the
    /// selectors, and then only the entry table changes.
    mutating func replaceEntry(_ entry: RegistrationEntry) {
        guard let old = entries.updateValue(entry, forKey: entry.id) else {
            preconditionFailure("entry \(entry.id) replaced but not present")
        }
        if old.parentID != entry.parentID {
            Self.remove(entry.id, from: &entriesByParentID, at: old.parentID)
            entriesByParentID[entry.parentID, default: []].insert(entry.id)
        }
        if old.spiffeID != entry.spiffeID {
            Self.remove(entry.id, from: &entriesBySPIFFEID, at: old.spiffeID)
            entriesBySPIFFEID[entry.spiffeID, default: []].insert(entry.id)
        }
        if old.selectors != entry.selectors {
            let before = Set(old.selectors), after = Set(entry.selectors)
            for selector in before.subtracting(after) { Self.remove(entry.id, from: &entriesBySelector, at: selector) }
            for selector in after.subtracting(before) { entriesBySelector[selector, default: []].insert(entry.id) }
        }
    }

    private static func remove<Key: Hashable>(
        _ id: RegistrationEntryID, from index: inout TreeDictionary<Key, TreeSet<RegistrationEntryID>>, at key: Key
    ) {
        let removed = index[key]?.remove(id)
        precondition(removed != nil, "entry index out of step with entries")
        if index[key]?.isEmpty == true { index[key] = nil }
    }

    /// The entry SPIRE would call a duplicate of `entry`: same SPIFFE ID, same parent ID, same
    /// selector set (order and multiplicity ignored), other than `entry` itself.
    public func similarEntry(to entry: RegistrationEntry) -> RegistrationEntryID? {
        guard let candidates = entriesBySPIFFEID[entry.spiffeID] else { return nil }
        let selectors = Set(entry.selectors)
        return candidates.sorted().first { id in
            guard id != entry.id, let other = entries[id] else { return false }
            return other.parentID == entry.parentID && Set(other.selectors) == selectors
        }
    }

    /// Checks that the derived indexes match `entries` exactly. Run after a restore and in tests;
    /// it is O(entries), so apply does not call it.
    public func indexesAreConsistent() -> Bool {
        var state = IdentityState()
        for entry in entries.values { state.insertEntry(entry) }
        return state.entriesByParentID == entriesByParentID
            && state.entriesBySPIFFEID == entriesBySPIFFEID
            && state.entriesBySelector == entriesBySelector
    }
}
