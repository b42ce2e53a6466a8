import IdentityModel
import Projections
import SPIFFE
import Testing

@Suite("Projector.apply: every event kind")
struct ApplyTests {
    let agent = F.agentID("node-1")

    @Test("entry create, update, delete keep the indexes in step")
    func entryLifecycle() {
        var h = Harness()
        let entry = F.entry("e1", spiffeID: "spiffe://example.org/web", parent: agent, selectors: F.selectors("unix:uid:1000"))
        #expect(h.must(.registrationEntryCreated(.init(entry: entry))) == [.entryUpserted(entry)])
        #expect(h.state.entries[entry.id] == entry)
        #expect(h.state.entriesByParentID[agent] == [entry.id])
        #expect(h.state.entriesBySPIFFEID[entry.spiffeID] == [entry.id])
        #expect(h.state.entriesBySelector[F.selector("unix:uid:1000")] == [entry.id])

        var updated = entry
        updated.revisionNumber = 1
        updated.selectors = F.selectors("unix:uid:2000")
        updated.parentID = F.agentID("node-2")
        #expect(h.must(.registrationEntryUpdated(.init(entry: updated))) == [.entryUpserted(updated)])
        #expect(h.state.entriesByParentID[agent] == nil)
        #expect(h.state.entriesByParentID[F.agentID("node-2")] == [entry.id])
        #expect(h.state.entriesBySelector[F.selector("unix:uid:1000")] == nil)
        #expect(h.state.indexesAreConsistent())

        #expect(h.must(.registrationEntryDeleted(.init(entryID: entry.id, revisionNumber: 1))) == [.entryDeleted(updated)])
        #expect(h.state.entries.isEmpty)
        #expect(h.state.entriesByParentID.isEmpty && h.state.entriesBySPIFFEID.isEmpty && h.state.entriesBySelector.isEmpty)
        #expect(h.state.appliedIndex == LogIndex(3))
    }

    @Test("an update moves only the index rows whose keys changed")
    func entryUpdateMovesChangedRows() {
        var h = Harness()
        let shared = F.selector("k8s:ns:default")
        let entry = F.entry(
            "e1", spiffeID: "spiffe://example.org/web", parent: agent, selectors: [shared, F.selector("k8s:sa:web")])
        let other = F.entry("e2", spiffeID: "spiffe://example.org/db", parent: agent, selectors: [shared])
        h.must(.registrationEntryCreated(.init(entry: entry)))
        h.must(.registrationEntryCreated(.init(entry: other)))

        // Same keys, another TTL: the entry changes, the indexes do not.
        var ttl = entry
        ttl.revisionNumber = 1
        ttl.x509SVIDTTLSeconds = 60
        let indexesBefore = (h.state.entriesByParentID, h.state.entriesBySPIFFEID, h.state.entriesBySelector)
        #expect(h.must(.registrationEntryUpdated(.init(entry: ttl))) == [.entryUpserted(ttl)])
        #expect(h.state.entries[entry.id] == ttl)
        #expect(h.state.entriesByParentID == indexesBefore.0 && h.state.entriesBySPIFFEID == indexesBefore.1)
        #expect(h.state.entriesBySelector == indexesBefore.2)

        // One selector of two swapped, selectors reordered, SPIFFE ID changed, parent kept.
        var moved = ttl
        moved.revisionNumber = 2
        moved.spiffeID = F.id("spiffe://example.org/web2")
        moved.selectors = [F.selector("k8s:sa:web2"), shared]
        #expect(h.must(.registrationEntryUpdated(.init(entry: moved))) == [.entryUpserted(moved)])
        #expect(h.state.entriesBySelector[shared] == [entry.id, other.id])
        #expect(h.state.entriesBySelector[F.selector("k8s:sa:web")] == nil)
        #expect(h.state.entriesBySelector[F.selector("k8s:sa:web2")] == [entry.id])
        #expect(h.state.entriesBySPIFFEID[F.id("spiffe://example.org/web")] == nil)
        #expect(h.state.entriesBySPIFFEID[moved.spiffeID] == [entry.id])
        #expect(h.state.entriesByParentID[agent] == [entry.id, other.id])
        #expect(h.state.indexesAreConsistent())
    }

    @Test("a published copy stays as it was while the next batch applies; equal content built in another order is equal")
    func publishedCopyIsUnchanged() {
        var h = Harness()
        let shared = F.selectors("k8s:ns:default")
        for n in 0..<200 {
            h.must(.registrationEntryCreated(.init(entry: F.entry(
                "e\(n)", spiffeID: "spiffe://example.org/w\(n)", parent: agent, selectors: shared))))
        }
        let published = h.state  // what readers hold (IdentityStateView)
        let publishedDigest = published.digest()
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "late", spiffeID: "spiffe://example.org/late", parent: agent, selectors: shared))))
        h.must(.registrationEntryDeleted(.init(entryID: F.entryID("e7"), revisionNumber: 0)))
        #expect(published.entries.count == 200 && published.entries[F.entryID("e7")] != nil)
        #expect(published.entries[F.entryID("late")] == nil)
        #expect(published.entriesByParentID[agent]?.count == 200)
        #expect(published.entriesBySelector[shared[0]]?.contains(F.entryID("e7")) == true)
        #expect(published.digest() == publishedDigest && published.indexesAreConsistent())
        #expect(h.state.entriesByParentID[agent]?.count == 200 && h.state.indexesAreConsistent())

        // The same entries created in reverse order: equal state, equal digest, equal rows.
        var reversed = Harness()
        for n in (0..<200).reversed() {
            reversed.must(.registrationEntryCreated(.init(entry: F.entry(
                "e\(n)", spiffeID: "spiffe://example.org/w\(n)", parent: agent, selectors: shared))))
        }
        #expect(reversed.state.entries == published.entries)
        #expect(reversed.state.entriesBySelector == published.entriesBySelector)
        #expect(reversed.state.tableRows() == published.tableRows())
    }

    @Test("join token create and consume")
    func joinToken() {
        var h = Harness()
        let token = JoinToken(tokenSHA256: F.digest(1), expiresAt: F.at(600))
        #expect(h.must(.joinTokenCreated(.init(token: token))) == [.joinTokenUpserted(JoinTokenRecord(token: token))])
        let changes = h.must(.joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: agent)), at: F.at(10))
        #expect(changes == [.joinTokenUpserted(JoinTokenRecord(token: token, consumedBy: agent))])
        #expect(h.state.joinTokens[token.tokenSHA256]?.isConsumed == true)
    }

    @Test("creating a token prunes tokens that expired")
    func joinTokenPruning() {
        var h = Harness()
        let old = JoinToken(tokenSHA256: F.digest(1), expiresAt: F.at(60))
        let fresh = JoinToken(tokenSHA256: F.digest(2), expiresAt: F.at(600))
        h.must(.joinTokenCreated(.init(token: old)))
        let changes = h.must(.joinTokenCreated(.init(token: fresh)), at: F.at(61))
        #expect(changes == [.joinTokenRemoved(old.tokenSHA256), .joinTokenUpserted(JoinTokenRecord(token: fresh))])
        #expect(h.state.joinTokens.keys.sorted { $0.description < $1.description } == [fresh.tokenSHA256])
    }

    @Test("agent attest, renew, activate, ban, evict")
    func agentLifecycle() throws {
        var h = Harness()
        h.must(F.attested(agent, selectors: F.selectors("x509pop:subject:cn:node-1")))
        var record = try #require(h.state.agents[agent])
        #expect(record.serialNumber == F.serial(1) && !record.banned && record.pendingSerialNumber == nil)

        h.must(.agentRenewed(.init(agentID: agent, serialNumber: F.serial(2), notAfter: F.at(7200))))
        record = try #require(h.state.agents[agent])
        #expect(record.serialNumber == F.serial(1))
        #expect(record.pendingSerialNumber == F.serial(2) && record.pendingNotAfter == F.at(7200))

        h.must(.agentRenewalActivated(.init(agentID: agent, serialNumber: F.serial(2))))
        record = try #require(h.state.agents[agent])
        #expect(record.serialNumber == F.serial(2) && record.notAfter == F.at(7200) && record.pendingSerialNumber == nil)

        h.must(.agentBanned(.init(agentID: agent)))
        #expect(h.state.agents[agent]?.banned == true)

        let changes = h.must(.agentEvicted(.init(agentID: agent)))
        #expect(changes.count == 1)
        #expect(h.state.agents[agent] == nil)
        // Evicted, the node may attest again.
        h.must(F.attested(agent, selectors: F.selectors("x509pop:subject:cn:node-1"), serial: 9))
        #expect(h.state.agents[agent]?.serialNumber == F.serial(9))
    }

    @Test("re-attestation replaces selectors when the attestor allows it")
    func reattest() {
        var h = Harness()
        h.must(F.attested(agent, selectors: F.selectors("x509pop:a:1")))
        h.must(F.attested(agent, selectors: F.selectors("x509pop:a:2"), serial: 2))
        #expect(h.state.agents[agent]?.selectors == F.selectors("x509pop:a:2"))
    }

    @Test("SVID issuance is recorded without changing views")
    func svidIssued() {
        var h = Harness()
        let before = h.state.tableRows().filter { $0.table != ProjectionTable.meta.rawValue }
        let issuer = F.reference("server-1", "ca-1")
        #expect(h.must(.x509SVIDIssued(.init(
            serialNumber: F.serial(5), spiffeID: F.id("spiffe://example.org/web"), entryID: nil, requestingAgentID: agent,
            issuer: issuer, notBefore: F.t0, notAfter: F.at(3600), publicKeySHA256: F.digest(3),
            certificateSHA256: F.digest(4)))) == [])
        #expect(h.must(.jwtSVIDIssued(.init(
            spiffeID: F.id("spiffe://example.org/web"), audience: ["aud"], expiresAt: F.at(300), issuer: issuer,
            entryID: nil, requestingAgentID: agent))) == [])
        #expect(h.state.tableRows().filter { $0.table != ProjectionTable.meta.rawValue } == before)
        #expect(h.state.appliedIndex == LogIndex(2))
    }

    @Test("X.509 authority rotation: prepare, activate (previous retires), taint old, revoke")
    func x509Rotation() throws {
        var h = Harness()
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "a"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "a"))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "b"))))
        let changes = h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "b"))))
        #expect(changes.count == 2)
        #expect(h.state.x509Authorities[F.reference("server-1", "a")]?.phase == .old)
        #expect(h.state.activeX509Authority(of: F.node("server-1"))?.reference == F.reference("server-1", "b"))
        h.must(.x509AuthorityTainted(.init(authority: F.reference("server-1", "a"))))
        #expect(h.state.x509Authorities[F.reference("server-1", "a")]?.tainted == true)
        h.must(.x509AuthorityRevoked(.init(authority: F.reference("server-1", "a"))))
        #expect(h.state.x509Authorities[F.reference("server-1", "a")]?.revoked == true)
    }

    @Test("JWT authority rotation follows the same lifecycle")
    func jwtRotation() {
        var h = Harness()
        h.must(.jwtAuthorityPrepared(.init(authority: F.jwt("server-1", "k1"))))
        h.must(.jwtAuthorityActivated(.init(authority: F.reference("server-1", "k1"))))
        h.must(.jwtAuthorityPrepared(.init(authority: F.jwt("server-1", "k2"))))
        h.must(.jwtAuthorityActivated(.init(authority: F.reference("server-1", "k2"))))
        h.must(.jwtAuthorityTainted(.init(authority: F.reference("server-1", "k1"))))
        h.must(.jwtAuthorityRevoked(.init(authority: F.reference("server-1", "k1"))))
        #expect(h.state.jwtAuthorities[F.reference("server-1", "k1")]?.revoked == true)
        #expect(h.state.activeJWTAuthority(of: F.node("server-1"))?.reference == F.reference("server-1", "k2"))
    }

    @Test("preparing prunes the server's expired old authorities only")
    func authorityPruning() {
        var h = Harness()
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "a", notAfter: F.at(100)))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "a"))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-2", "z", notAfter: F.at(100)))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "b"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "b"))))
        let changes = h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "c"))), at: F.at(200))
        #expect(changes.first == .x509AuthorityRemoved(F.reference("server-1", "a")))
        #expect(h.state.x509Authorities[F.reference("server-1", "a")] == nil)
        // Another server's authority and a prepared one are not pruned by this server's step.
        #expect(h.state.x509Authorities[F.reference("server-2", "z")] != nil)
    }

    @Test("federated bundle set, replace, delete")
    func federation() {
        var h = Harness()
        let bundle = FederatedBundle(trustDomain: F.domain("partner.example"), x509AuthoritiesDER: [[1, 2, 3]])
        h.must(.federatedBundleSet(.init(bundle: bundle)))
        var newer = bundle
        newer.sequenceNumber = 2
        h.must(.federatedBundleSet(.init(bundle: newer)))
        #expect(h.state.federatedBundles[bundle.trustDomain] == newer)
        #expect(h.must(.federatedBundleDeleted(.init(trustDomain: bundle.trustDomain))) == [.federatedBundleDeleted(bundle.trustDomain)])
        #expect(h.state.federatedBundles.isEmpty)
    }

    @Test("cluster members join and leave")
    func cluster() {
        var h = Harness()
        h.must(.clusterMemberAdded(.init(nodeName: F.node("server-2"), address: "10.0.0.2:8082")))
        #expect(h.state.clusterMembers[F.node("server-2")]?.address == "10.0.0.2:8082")
        h.must(.clusterMemberRemoved(.init(nodeName: F.node("server-2"))))
        #expect(h.state.clusterMembers.isEmpty)
    }

    @Test("every event kind is covered by these tests")
    func coverage() {
        // Kept in step with EventKind so a new event cannot land without a projection test.
        #expect(EventKind.allCases.count == 24)
    }
}
