import IdentityModel
import SPIFFE

/// `IdentityState` ⇄ named tables of key/value bytes.
///
/// The server writes `Projector.tableWrites` in the same LMDB transaction as the applied index
/// and, at start, reads the tables back with `restore(tables:)` instead of replaying the log.
/// `tableRows()` is the canonical form: `digest()` hashes it and snapshots copy it.
extension Projector {
    /// The table writes that bring stored tables from the state before the event to `state`
    /// (the state after it). Always includes the meta rows (applied index, bundle sequence), so
    /// even a rejected event's index is recorded.
    public static func tableWrites(for changes: [Change], in state: IdentityState) -> [TableWrite] {
        var writes: [TableWrite] = []
        for change in changes {
            switch change {
            case .entryUpserted(let entry): writes.append(put(TableCoding.row(entry)))
            case .entryDeleted(let entry):
                writes.append(.delete(table: ProjectionTable.entries.rawValue, key: TableCoding.key(entry.id)))
            case .agentUpserted(let agent): writes.append(put(TableCoding.row(agent)))
            case .agentRemoved(let agent):
                writes.append(.delete(table: ProjectionTable.agents.rawValue, key: TableCoding.key(agent.spiffeID)))
            case .joinTokenUpserted(let record): writes.append(put(TableCoding.row(record)))
            case .joinTokenRemoved(let hash):
                writes.append(.delete(table: ProjectionTable.joinTokens.rawValue, key: hash.bytes))
            case .x509AuthorityUpserted(let record): writes.append(put(TableCoding.row(record)))
            case .x509AuthorityRemoved(let reference):
                writes.append(.delete(table: ProjectionTable.x509Authorities.rawValue, key: TableCoding.key(reference)))
            case .jwtAuthorityUpserted(let record): writes.append(put(TableCoding.row(record)))
            case .jwtAuthorityRemoved(let reference):
                writes.append(.delete(table: ProjectionTable.jwtAuthorities.rawValue, key: TableCoding.key(reference)))
            case .bundleChanged:
                break  // The meta rows below carry the sequence number.
            case .federatedBundleUpserted(let bundle): writes.append(put(TableCoding.row(bundle)))
            case .federatedBundleDeleted(let domain):
                writes.append(.delete(table: ProjectionTable.federatedBundles.rawValue, key: Array(domain.name.utf8)))
            case .clusterMemberUpserted(let member): writes.append(put(TableCoding.row(member)))
            case .clusterMemberRemoved(let name):
                writes.append(.delete(table: ProjectionTable.clusterMembers.rawValue, key: Array(name.rawValue.utf8)))
            }
        }
        // Both meta rows, every time: stored tables then equal `tableRows()` from the first apply on.
        writes.append(put(TableCoding.metaRow(TableCoding.appliedIndexKey, state.appliedIndex.rawValue)))
        writes.append(put(TableCoding.metaRow(TableCoding.bundleSequenceKey, state.bundleSequenceNumber)))
        return writes
    }

    private static func put(_ row: TableRow) -> TableWrite {
        .put(table: row.table, key: row.key, value: row.value)
    }
}

extension IdentityState {
    /// Every row of every table, sorted by table name and then key bytes: the canonical form of
    /// the state. Equal states give equal rows on every replica and every run.
    public func tableRows() -> [TableRow] {
        var rows: [TableRow] = []
        rows += entries.values.map(TableCoding.row)
        rows += agents.values.map(TableCoding.row)
        rows += joinTokens.values.map(TableCoding.row)
        rows += x509Authorities.values.map(TableCoding.row)
        rows += jwtAuthorities.values.map(TableCoding.row)
        rows += federatedBundles.values.map(TableCoding.row)
        rows += clusterMembers.values.map(TableCoding.row)
        rows.append(TableCoding.metaRow(TableCoding.appliedIndexKey, appliedIndex.rawValue))
        rows.append(TableCoding.metaRow(TableCoding.bundleSequenceKey, bundleSequenceNumber))
        return rows.sorted { lhs, rhs in
            lhs.table != rhs.table ? lhs.table < rhs.table : lhs.key.lexicographicallyPrecedes(rhs.key)
        }
    }

    /// The writes that replace whatever tables hold with exactly this state (installing a
    /// snapshot): clear every table, then put every row.
    public func fullTableWrites() -> [TableWrite] {
        ProjectionTable.allCases.map { TableWrite.clear(table: $0.rawValue) }
            + tableRows().map { .put(table: $0.table, key: $0.key, value: $0.value) }
    }

    /// FNV-1a-64 over the canonical rows, each table name, key and value length-prefixed so
    /// that no two different row sets hash the same bytes. Not a cryptographic hash: it lets a
    /// simulator and `log verify` compare replicas cheaply; the Merkle log is what is
    /// tamper-evident.
    public func digest() -> UInt64 {
        var hash = FNV1a64()
        for row in tableRows() {
            hash.combineField(Array(row.table.utf8))
            hash.combineField(row.key)
            hash.combineField(row.value)
        }
        return hash.value
    }

    /// Rebuilds a state, indexes included, from the rows `tableRows()` (or the writes of
    /// `Projector.tableWrites`) left in storage. Every value is decoded and validated, every key
    /// checked against its value, and the invariants apply keeps are checked again.
    public static func restore(tables: [String: [[UInt8]: [UInt8]]]) throws(ProjectionTableError) -> IdentityState {
        var state = IdentityState()
        var sawAppliedIndex = false
        for name in tables.keys.sorted() {
            guard let table = ProjectionTable(rawValue: name) else { throw .unknownTable(name) }
            for (key, value) in tables[name] ?? [:] {
                if table == .meta {
                    sawAppliedIndex = try TableCoding.restoreMeta(key: key, value: value, into: &state) || sawAppliedIndex
                } else {
                    try TableCoding.restore(table, key: key, value: value, into: &state)
                }
            }
        }
        guard sawAppliedIndex else { throw .missingMeta(String(decoding: TableCoding.appliedIndexKey, as: UTF8.self)) }
        try TableCoding.checkInvariants(of: state)
        return state
    }
}

/// 64-bit FNV-1a (Fowler–Noll–Vo), fed length-prefixed fields.
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01b3

    mutating func combine(_ bytes: some Sequence<UInt8>) {
        for byte in bytes {
            value ^= UInt64(byte)
            value &*= Self.prime
        }
    }

    mutating func combineField(_ bytes: [UInt8]) {
        combine(RowFormat.bigEndian(UInt64(bytes.count)))
        combine(bytes)
    }
}
