/// One change to a named projection table: the server maps it one-to-one onto the log store's
/// `ProjectionWrite` and commits it in the transaction that records the applied index (etcd's
/// consistent index), so a crash never leaves tables and index apart.
///
/// Projections does not import the log store; this type is the whole contract between them.
public enum TableWrite: Hashable, Sendable {
    case put(table: String, key: [UInt8], value: [UInt8])
    /// Deleting a missing key is harmless, so re-applying after a crash is too.
    case delete(table: String, key: [UInt8])
    /// Removes every row of a table: the first step of writing a whole state (a snapshot).
    case clear(table: String)

    public var table: String {
        switch self {
        case .put(let table, _, _), .delete(let table, _), .clear(let table): table
        }
    }
}

/// One stored row.
public struct TableRow: Hashable, Sendable {
    public var table: String
    public var key: [UInt8]
    public var value: [UInt8]

    public init(table: String, key: [UInt8], value: [UInt8]) {
        self.table = table
        self.key = key
        self.value = value
    }
}

/// The tables an `IdentityState` is stored in. Names are part of the stored format.
public enum ProjectionTable: String, CaseIterable, Hashable, Sendable {
    /// Entry ID (UTF-8) → `ModelCodec` registration entry.
    case entries = "identity.entries"
    /// Agent SPIFFE ID (UTF-8) → `ModelCodec` agent record.
    case agents = "identity.agents"
    /// Token SHA-256 (32 bytes) → row: token, consuming agent.
    case joinTokens = "identity.join_tokens"
    /// Server node name, 0x00, authority ID → row: phase, tainted, revoked, descriptor.
    case x509Authorities = "identity.x509_authorities"
    case jwtAuthorities = "identity.jwt_authorities"
    /// Trust domain name → `ModelCodec` federated bundle.
    case federatedBundles = "identity.federated_bundles"
    /// Node name → row: address.
    case clusterMembers = "identity.cluster_members"
    /// `applied_index`, `bundle_sequence` → 8-byte big-endian integers.
    case meta = "identity.meta"
}

/// Why stored tables cannot be turned back into a state. A server that meets one must not serve
/// from those tables; it rebuilds them from the log or a snapshot.
public enum ProjectionTableError: Error, Hashable, Sendable, CustomStringConvertible {
    case unknownTable(String)
    case unknownMetaKey([UInt8])
    case missingMeta(String)
    /// A row's bytes do not follow the row format (truncated, unknown version, trailing bytes).
    case malformedRow(table: String, reason: String)
    /// A value decoded, but its key is not the one the value implies.
    case keyMismatch(table: String)
    /// The rows break an invariant apply keeps (e.g. two similar entries, two active authorities
    /// of one server).
    case inconsistent(String)

    public var description: String {
        switch self {
        case .unknownTable(let name): "unknown projection table \(name)"
        case .unknownMetaKey(let key): "unknown key in \(ProjectionTable.meta.rawValue): \(key)"
        case .missingMeta(let name): "\(ProjectionTable.meta.rawValue) lacks \(name)"
        case .malformedRow(let table, let reason): "malformed row in \(table): \(reason)"
        case .keyMismatch(let table): "a row of \(table) is stored under the wrong key"
        case .inconsistent(let reason): "projection tables are inconsistent: \(reason)"
        }
    }
}
