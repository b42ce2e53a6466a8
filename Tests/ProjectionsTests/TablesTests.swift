import IdentityModel
import Projections
import SPIFFE
import Testing

/// An in-memory stand-in for the log store's projection tables.
struct MemoryTables {
    var tables: [String: [[UInt8]: [UInt8]]] = [:]

    mutating func apply(_ writes: [TableWrite]) {
        for write in writes {
            switch write {
            case .put(let table, let key, let value): tables[table, default: [:]][key] = value
            case .delete(let table, let key): tables[table]?[key] = nil
            case .clear(let table): tables[table] = [:]
            }
        }
    }

    var rows: [TableRow] {
        tables.flatMap { table, rows in rows.map { TableRow(table: table, key: $0.key, value: $0.value) } }
            .sorted { $0.table != $1.table ? $0.table < $1.table : $0.key.lexicographicallyPrecedes($1.key) }
    }
}

/// A log that touches every table, including deletions, prunes and rejections.
enum Scenario {
    static func run() -> (Harness, MemoryTables) {
        var h = Harness()
        var store = MemoryTables()
        func step(_ event: Event, at time: Timestamp = F.t0) {
            let outcome = h.apply(event, at: time)
            store.apply(Projector.tableWrites(for: outcome.changes, in: h.state))
        }
        let agent = F.agentID("a")
        let agent2 = F.id("spiffe://example.org/spire/agent/join_token/t")
        step(.clusterMemberAdded(.init(nodeName: F.node("s1"), address: "s1:8082")))
        step(.clusterMemberAdded(.init(nodeName: F.node("s2"), address: "s2:8082")))
        step(.clusterMemberRemoved(.init(nodeName: F.node("s2"))))
        step(.x509AuthorityPrepared(.init(authority: F.x509("s1", "a", notAfter: F.at(100)))))
        step(.x509AuthorityActivated(.init(authority: F.reference("s1", "a"))))
        step(.x509AuthorityPrepared(.init(authority: F.x509("s1", "b"))))
        step(.x509AuthorityActivated(.init(authority: F.reference("s1", "b"))))
        step(.x509AuthorityPrepared(.init(authority: F.x509("s1", "c"))), at: F.at(200))
        step(.jwtAuthorityPrepared(.init(authority: F.jwt("s1", "k1"))))
        step(.jwtAuthorityActivated(.init(authority: F.reference("s1", "k1"))))
        step(.jwtAuthorityPrepared(.init(authority: F.jwt("s1", "k2"))))
        step(.jwtAuthorityActivated(.init(authority: F.reference("s1", "k2"))))
        step(.jwtAuthorityTainted(.init(authority: F.reference("s1", "k1"))))
        step(.jwtAuthorityRevoked(.init(authority: F.reference("s1", "k1"))))
        step(F.attested(agent, selectors: F.selectors("x509pop:cn:a")))
        step(.agentRenewed(.init(agentID: agent, serialNumber: F.serial(2), notAfter: F.at(7200))))
        step(.joinTokenCreated(.init(token: JoinToken(tokenSHA256: F.digest(1), expiresAt: F.at(10)))))
        step(.joinTokenCreated(.init(token: JoinToken(tokenSHA256: F.digest(2), expiresAt: F.at(900)))), at: F.at(20))
        step(.joinTokenConsumed(.init(tokenSHA256: F.digest(2), agentID: agent2)), at: F.at(30))
        step(.joinTokenConsumed(.init(tokenSHA256: F.digest(2), agentID: agent2)), at: F.at(31))
        step(F.attested(agent2, selectors: F.selectors("join_token:t"), canReattest: false))
        step(.agentBanned(.init(agentID: agent2)))
        step(.agentEvicted(.init(agentID: agent2)))
        for index in 0..<5 {
            step(.registrationEntryCreated(.init(entry: F.entry(
                "e\(index)", spiffeID: "spiffe://example.org/w\(index)", parent: agent, selectors: F.selectors("unix:uid:\(index)")))))
        }
        var updated = F.entry("e1", spiffeID: "spiffe://example.org/moved", parent: agent, selectors: F.selectors("k8s:ns:x"))
        updated.revisionNumber = 1
        step(.registrationEntryUpdated(.init(entry: updated)))
        step(.registrationEntryDeleted(.init(entryID: F.entryID("e3"), revisionNumber: 0)))
        step(.registrationEntryDeleted(.init(entryID: F.entryID("e3"), revisionNumber: 0)))
        step(.federatedBundleSet(.init(bundle: FederatedBundle(
            trustDomain: F.domain("partner.example"), x509AuthoritiesDER: [[1, 2]],
            jwtAuthorities: [JWTKey(keyID: F.authority("pk"), publicKeyDER: [3, 4], expiresAt: F.at(5))], refreshHintSeconds: 300))))
        step(.federatedBundleSet(.init(bundle: FederatedBundle(trustDomain: F.domain("gone.example"), x509AuthoritiesDER: [[5]]))))
        step(.federatedBundleDeleted(.init(trustDomain: F.domain("gone.example"))))
        return (h, store)
    }
}

@Suite("Tables, restore and digest")
struct TablesTests {
    @Test("incremental table writes leave exactly the canonical rows of the final state")
    func incrementalEqualsFull() {
        let (h, store) = Scenario.run()
        #expect(store.rows == h.state.tableRows())
        #expect(h.state.entries.count == 4 && h.state.agents.count == 1 && h.state.joinTokens.count == 1)
        #expect(h.state.x509Authorities.count == 2 && h.state.jwtAuthorities.count == 2)
    }

    @Test("replaying the same log gives identical digest and identical table bytes")
    func replayDeterminism() {
        let (h, _) = Scenario.run()
        let first = h.replay()
        let second = h.replay()
        #expect(first == h.state && second == h.state)
        #expect(first.digest() == second.digest())
        #expect(first.tableRows() == second.tableRows())
        let (again, _) = Scenario.run()
        #expect(again.state.digest() == h.state.digest())
    }

    @Test("the digest of the scenario is pinned: table formats are stored formats")
    func pinnedDigest() {
        let (h, _) = Scenario.run()
        #expect(String(h.state.digest(), radix: 16) == Self.scenarioDigest)
    }

    static let scenarioDigest = "7b2b2a243bc823ad"

    @Test("the digest changes when any state changes")
    func digestSensitivity() {
        var (h, _) = Scenario.run()
        let before = h.state.digest()
        h.must(.clusterMemberAdded(.init(nodeName: F.node("s9"), address: "s9:1")))
        #expect(h.state.digest() != before)
    }

    @Test("restore(tables:) rebuilds the live state, indexes included")
    func restore() throws {
        let (h, store) = Scenario.run()
        let restored = try IdentityState.restore(tables: store.tables)
        #expect(restored == h.state)
        #expect(restored.indexesAreConsistent())
        #expect(restored.digest() == h.state.digest())
        #expect(restored.authorizedEntries(for: F.agentID("a")) == h.state.authorizedEntries(for: F.agentID("a")))
        // A restored state keeps folding exactly like the live one.
        var live = h.state
        var copy = restored
        let envelope = EventEnvelope(
            issuedAt: F.t0, actor: .localAdmin(uid: 0), requestID: RequestID(high: 1, low: 1),
            event: .registrationEntryDeleted(.init(entryID: F.entryID("e0"), revisionNumber: 0)))
        let index = live.appliedIndex.next
        #expect(Projector.apply(envelope, at: index, to: &live) == Projector.apply(envelope, at: index, to: &copy))
        #expect(live == copy)
    }

    @Test("full table writes (a snapshot install) replace whatever was stored")
    func fullWrites() throws {
        let (h, _) = Scenario.run()
        var store = MemoryTables()
        store.apply([.put(table: ProjectionTable.entries.rawValue, key: [1], value: [2])])
        store.apply(h.state.fullTableWrites())
        #expect(store.rows == h.state.tableRows())
        #expect(try IdentityState.restore(tables: store.tables) == h.state)
    }

    @Test("the empty state restores from its own rows")
    func emptyState() throws {
        var store = MemoryTables()
        store.apply(IdentityState().fullTableWrites())
        #expect(try IdentityState.restore(tables: store.tables) == IdentityState())
    }

    @Test("restore refuses unknown tables, bad rows, wrong keys and missing meta")
    func restoreErrors() throws {
        let (_, store) = Scenario.run()
        func expectFailure(_ mutate: (inout [String: [[UInt8]: [UInt8]]]) -> Void, _ check: (ProjectionTableError) -> Bool) {
            var tables = store.tables
            mutate(&tables)
            do {
                _ = try IdentityState.restore(tables: tables)
                Issue.record("restore accepted corrupt tables")
            } catch {
                #expect(check(error), "\(error)")
            }
        }
        expectFailure({ $0["identity.unknown"] = [:] }) { $0 == .unknownTable("identity.unknown") }
        expectFailure({ $0[ProjectionTable.meta.rawValue] = [:] }) { if case .missingMeta = $0 { true } else { false } }
        expectFailure({ $0[ProjectionTable.meta.rawValue]?[Array("x".utf8)] = [0, 0, 0, 0, 0, 0, 0, 0] }) {
            if case .unknownMetaKey = $0 { true } else { false }
        }
        let entries = ProjectionTable.entries.rawValue
        expectFailure({ tables in
            let (key, value) = tables[entries]!.first!
            tables[entries]![key] = nil
            tables[entries]![key + [0x41]] = value
        }) { $0 == .keyMismatch(table: entries) }
        expectFailure({ tables in
            let key = tables[entries]!.keys.first!
            tables[entries]![key] = [9, 9, 9]
        }) { if case .malformedRow(let table, _) = $0 { table == entries } else { false } }
        let tokens = ProjectionTable.joinTokens.rawValue
        expectFailure({ tables in
            let key = tables[tokens]!.keys.first!
            tables[tokens]![key]!.append(0)
        }) { if case .malformedRow(let table, let reason) = $0 { table == tokens && reason.contains("trailing") } else { false } }
        let authorities = ProjectionTable.x509Authorities.rawValue
        expectFailure({ tables in
            // Two active authorities of one server.
            for key in tables[authorities]!.keys { tables[authorities]![key]![1] = AuthorityPhase.active.rawValue }
        }) { if case .inconsistent = $0 { true } else { false } }
        expectFailure({ tables in
            let key = tables[authorities]!.keys.first!
            tables[authorities]![key]![1] = 9
        }) { if case .malformedRow(_, let reason) = $0 { reason.contains("phase") } else { false } }
    }

    @Test("rows of the hand-rolled formats are pinned")
    func rowGolden() throws {
        var h = Harness()
        h.must(.joinTokenCreated(.init(token: JoinToken(tokenSHA256: F.digest(0), expiresAt: F.at(1)))))
        h.must(.joinTokenConsumed(.init(tokenSHA256: F.digest(0), agentID: F.id("spiffe://e.org/a"))))
        h.must(.clusterMemberAdded(.init(nodeName: F.node("s1"), address: "h:1")))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("s1", "a"))))
        let rows = Dictionary(
            uniqueKeysWithValues: h.state.tableRows().filter { $0.table != ProjectionTable.meta.rawValue }.map { ($0.table, $0) })
        #expect(hex(try #require(rows[ProjectionTable.joinTokens.rawValue]).value) == Self.joinTokenRow)
        #expect(hex(try #require(rows[ProjectionTable.clusterMembers.rawValue]).value) == Self.clusterMemberRow)
        #expect(hex(try #require(rows[ProjectionTable.x509Authorities.rawValue]).value) == Self.authorityRow)
        #expect(hex(try #require(rows[ProjectionTable.x509Authorities.rawValue]).key) == "733100" + "61")
    }

    /// v1, token (length 0x2a: ModelCodec join token), consuming agent (length 0x10).
    static let joinTokenRow =
        "010000002a010a20000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f10e8d7eab6b733"
        + "000000107370696666653a2f2f652e6f72672f61"
    /// v1, address.
    static let clusterMemberRow = "0100000003683a31"
    /// v1, phase prepared, not tainted, not revoked, descriptor.
    static let authorityRow = "0101000000000017010a0273311201611a06636572742d6120808884e0b733"
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}
