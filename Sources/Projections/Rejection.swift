import IdentityModel
import SPIFFE

/// Whether an event took effect.
///
/// A rejected event is still a log entry: every replica folds it, reaches the same rejection at
/// the same index and changes nothing but the applied index. The proposer learns the outcome at
/// apply time, which is what makes concurrent proposals safe (two racing consumes of one join
/// token both pass the leader's pre-check; only the first to apply wins).
public enum ApplyOutcome: Hashable, Sendable {
    case applied([Change])
    case rejected(Rejection)

    public var changes: [Change] {
        switch self {
        case .applied(let changes): changes
        case .rejected: []
        }
    }

    public var isApplied: Bool {
        if case .applied = self { return true }
        return false
    }
}

/// Why an event was refused at apply time. Each case names what it refers to, so the runtime can
/// map it to a SPIRE-style API error (AlreadyExists, NotFound, FailedPrecondition).
public enum Rejection: Hashable, Sendable, CustomStringConvertible {
    /// An entry with this ID exists.
    case entryIDExists(RegistrationEntryID)
    /// SPIRE's duplicate rule: an entry with the same SPIFFE ID, parent ID and selector set exists.
    case duplicateEntry(existing: RegistrationEntryID)
    case entryNotFound(RegistrationEntryID)
    /// A new entry must start at revision 0; an update must be the current revision plus one; a
    /// deletion must name the current revision (compare-and-set on the per-entry counter).
    case revisionMismatch(RegistrationEntryID, expected: Int64, actual: Int64)

    case joinTokenExists(SHA256Digest)
    case joinTokenUnknown(SHA256Digest)
    case joinTokenExpired(SHA256Digest)
    case joinTokenAlreadyConsumed(SHA256Digest, by: SPIFFEID)

    case agentNotFound(SPIFFEID)
    /// Banned agents stay banned until evicted, as in SPIRE.
    case agentBanned(SPIFFEID)
    /// The attestor does not allow re-attestation (TOFU) and the agent already exists.
    case agentAlreadyAttested(SPIFFEID)
    /// A renewal activation named a serial that is not the pending one.
    case serialNotPending(SPIFFEID)

    case authorityExists(AuthorityReference)
    case authorityNotFound(AuthorityReference)
    /// The lifecycle step is not allowed from the authority's current state (activate a
    /// non-prepared authority, taint the active one, revoke an untainted one, …).
    case invalidAuthorityTransition(AuthorityReference, from: String, event: EventKind)

    case federatedBundleNotFound(TrustDomain)
    case clusterMemberExists(NodeName)
    case clusterMemberNotFound(NodeName)

    /// The event would exceed a bound of `Limits`, named here.
    case limitReached(String)

    /// A second copy of a request already applied at `firstIndex` (the same request ID appended
    /// by two leaders), whose first copy was rejected: the first copy's kind of refusal and its
    /// description, so both copies' callers get the same answer. Decided by the runtime's
    /// request table, never by `Projector`.
    case repeatedRequest(firstIndex: LogIndex, category: Category, reason: String)

    /// The kind of refusal, for mapping to an API status.
    public enum Category: UInt8, Hashable, Sendable {
        case alreadyExists = 1
        case notFound = 2
        case failedPrecondition = 3
        case limitReached = 4
    }

    public var category: Category {
        switch self {
        case .entryIDExists, .duplicateEntry, .joinTokenExists, .agentAlreadyAttested, .authorityExists, .clusterMemberExists:
            .alreadyExists
        case .entryNotFound, .joinTokenUnknown, .agentNotFound, .authorityNotFound, .federatedBundleNotFound,
             .clusterMemberNotFound:
            .notFound
        case .limitReached: .limitReached
        case .revisionMismatch, .joinTokenExpired, .joinTokenAlreadyConsumed, .agentBanned, .serialNotPending,
             .invalidAuthorityTransition:
            .failedPrecondition
        case .repeatedRequest(_, let category, _): category
        }
    }

    public var description: String {
        switch self {
        case .entryIDExists(let id): "registration entry \(id) already exists"
        case .duplicateEntry(let id): "a similar registration entry already exists: \(id)"
        case .entryNotFound(let id): "registration entry \(id) not found"
        case .revisionMismatch(let id, let expected, let actual):
            "registration entry \(id): revision \(actual) given, \(expected) expected"
        case .joinTokenExists(let hash): "join token \(hash) already exists"
        case .joinTokenUnknown(let hash): "join token \(hash) is unknown"
        case .joinTokenExpired(let hash): "join token \(hash) has expired"
        case .joinTokenAlreadyConsumed(let hash, let agent): "join token \(hash) was already used by \(agent)"
        case .agentNotFound(let id): "agent \(id) not found"
        case .agentBanned(let id): "agent \(id) is banned"
        case .agentAlreadyAttested(let id): "agent \(id) is already attested and cannot re-attest"
        case .serialNotPending(let id): "agent \(id) has no such pending SVID"
        case .authorityExists(let reference): "authority \(reference) already exists"
        case .authorityNotFound(let reference): "authority \(reference) not found"
        case .invalidAuthorityTransition(let reference, let from, let event):
            "authority \(reference) is \(from); \(event) is not allowed"
        case .federatedBundleNotFound(let domain): "no federated bundle for \(domain)"
        case .clusterMemberExists(let name): "cluster member \(name) already exists"
        case .clusterMemberNotFound(let name): "cluster member \(name) not found"
        case .limitReached(let name): "limit \(name) reached"
        case .repeatedRequest(_, _, let reason): reason
        }
    }
}
