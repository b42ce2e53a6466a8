import IdentityModel
import Projections
import SPIFFE
import Testing

/// Each apply-time rejection, and that a rejected event changes nothing but the applied index.
@Suite("Projector.apply: rejections")
struct RejectionTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let setup: [Event]
        let event: Event
        let at: Timestamp
        let expected: Rejection
        var testDescription: String { name }

        init(_ name: String, setup: [Event] = [], _ event: Event, at: Timestamp = F.t0, _ expected: Rejection) {
            self.name = name
            self.setup = setup
            self.event = event
            self.at = at
            self.expected = expected
        }
    }

    static let agent = F.agentID("node-1")
    static let entry = F.entry("e1", spiffeID: "spiffe://example.org/web", parent: agent, selectors: F.selectors("unix:uid:1", "k8s:ns:a"))
    static let token = JoinToken(tokenSHA256: F.digest(7), expiresAt: F.at(600))
    static let refA = F.reference("server-1", "a")
    static let refB = F.reference("server-1", "b")

    static func updated(_ revision: Int64) -> RegistrationEntry {
        var copy = entry
        copy.revisionNumber = revision
        return copy
    }

    static let cases: [Case] = {
        let created = Event.registrationEntryCreated(.init(entry: entry))
        var similar = F.entry(
            "e2", spiffeID: "spiffe://example.org/web", parent: agent, selectors: F.selectors("k8s:ns:a", "unix:uid:1"))
        let other = F.entry("e3", spiffeID: "spiffe://example.org/other", parent: agent, selectors: F.selectors("unix:uid:1"))
        var clash = other
        clash.revisionNumber = 1
        clash.spiffeID = entry.spiffeID
        clash.selectors = entry.selectors
        let attested = F.attested(agent, selectors: F.selectors("x509pop:a:1"))
        let prepA = Event.x509AuthorityPrepared(.init(authority: F.x509("server-1", "a")))
        let prepB = Event.x509AuthorityPrepared(.init(authority: F.x509("server-1", "b")))
        let actA = Event.x509AuthorityActivated(.init(authority: refA))
        let actB = Event.x509AuthorityActivated(.init(authority: refB))
        let jwtPrep = Event.jwtAuthorityPrepared(.init(authority: F.jwt("server-1", "k")))
        let bundleDomain = F.domain("partner.example")
        similar.revisionNumber = 0
        return [
            Case("entry ID exists", setup: [created], created, .entryIDExists(entry.id)),
            Case("similar entry (same ID, parent, selector set)", setup: [created],
                 .registrationEntryCreated(.init(entry: similar)), .duplicateEntry(existing: entry.id)),
            Case("new entry with nonzero revision", .registrationEntryCreated(.init(entry: updated(3))),
                 .revisionMismatch(entry.id, expected: 0, actual: 3)),
            Case("update of a missing entry", .registrationEntryUpdated(.init(entry: updated(1))), .entryNotFound(entry.id)),
            Case("update skipping a revision", setup: [created], .registrationEntryUpdated(.init(entry: updated(2))),
                 .revisionMismatch(entry.id, expected: 1, actual: 2)),
            Case("update repeating a revision", setup: [created], .registrationEntryUpdated(.init(entry: updated(0))),
                 .revisionMismatch(entry.id, expected: 1, actual: 0)),
            Case("update making a similar entry", setup: [created, .registrationEntryCreated(.init(entry: other))],
                 .registrationEntryUpdated(.init(entry: clash)), .duplicateEntry(existing: entry.id)),
            Case("delete of a missing entry", .registrationEntryDeleted(.init(entryID: entry.id, revisionNumber: 0)),
                 .entryNotFound(entry.id)),
            Case("delete at a stale revision", setup: [created, .registrationEntryUpdated(.init(entry: updated(1)))],
                 .registrationEntryDeleted(.init(entryID: entry.id, revisionNumber: 0)),
                 .revisionMismatch(entry.id, expected: 1, actual: 0)),

            Case("join token exists", setup: [.joinTokenCreated(.init(token: token))], .joinTokenCreated(.init(token: token)),
                 .joinTokenExists(token.tokenSHA256)),
            Case("unknown join token", .joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: agent)),
                 .joinTokenUnknown(token.tokenSHA256)),
            Case("expired join token (issuedAt == expiresAt)", setup: [.joinTokenCreated(.init(token: token))],
                 .joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: agent)), at: F.at(600),
                 .joinTokenExpired(token.tokenSHA256)),
            Case("join token consumed twice",
                 setup: [.joinTokenCreated(.init(token: token)), .joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: agent))],
                 .joinTokenConsumed(.init(tokenSHA256: token.tokenSHA256, agentID: F.agentID("node-2"))),
                 .joinTokenAlreadyConsumed(token.tokenSHA256, by: agent)),

            Case("renewal of an unknown agent", .agentRenewed(.init(agentID: agent, serialNumber: F.serial(2), notAfter: F.at(1))),
                 .agentNotFound(agent)),
            Case("activation of an unknown agent", .agentRenewalActivated(.init(agentID: agent, serialNumber: F.serial(2))),
                 .agentNotFound(agent)),
            Case("activation of a serial that is not pending", setup: [attested],
                 .agentRenewalActivated(.init(agentID: agent, serialNumber: F.serial(2))), .serialNotPending(agent)),
            Case("ban of an unknown agent", .agentBanned(.init(agentID: agent)), .agentNotFound(agent)),
            Case("ban of a banned agent", setup: [attested, .agentBanned(.init(agentID: agent))],
                 .agentBanned(.init(agentID: agent)), .agentBanned(agent)),
            Case("evict of an unknown agent", .agentEvicted(.init(agentID: agent)), .agentNotFound(agent)),
            Case("attest of a banned agent", setup: [attested, .agentBanned(.init(agentID: agent))], attested, .agentBanned(agent)),
            Case("renewal of a banned agent", setup: [attested, .agentBanned(.init(agentID: agent))],
                 .agentRenewed(.init(agentID: agent, serialNumber: F.serial(2), notAfter: F.at(1))), .agentBanned(agent)),
            Case("second TOFU attestation", setup: [F.attested(agent, selectors: [], canReattest: false)],
                 F.attested(agent, selectors: [], serial: 2, canReattest: false), .agentAlreadyAttested(agent)),

            Case("prepare an existing authority", setup: [prepA], prepA, .authorityExists(refA)),
            Case("activate an unknown authority", actA, .authorityNotFound(refA)),
            Case("activate an active authority", setup: [prepA, actA], actA,
                 .invalidAuthorityTransition(refA, from: "active", event: .x509AuthorityActivated)),
            Case("activate an old authority", setup: [prepA, actA, prepB, actB], actA,
                 .invalidAuthorityTransition(refA, from: "old", event: .x509AuthorityActivated)),
            Case("taint the active authority", setup: [prepA, actA], .x509AuthorityTainted(.init(authority: refA)),
                 .invalidAuthorityTransition(refA, from: "active", event: .x509AuthorityTainted)),
            Case("taint a prepared authority", setup: [prepA], .x509AuthorityTainted(.init(authority: refA)),
                 .invalidAuthorityTransition(refA, from: "prepared", event: .x509AuthorityTainted)),
            Case("taint twice", setup: [prepA, actA, prepB, actB, .x509AuthorityTainted(.init(authority: refA))],
                 .x509AuthorityTainted(.init(authority: refA)),
                 .invalidAuthorityTransition(refA, from: "old, tainted", event: .x509AuthorityTainted)),
            Case("revoke an untainted authority", setup: [prepA, actA, prepB, actB], .x509AuthorityRevoked(.init(authority: refA)),
                 .invalidAuthorityTransition(refA, from: "old", event: .x509AuthorityRevoked)),
            Case("revoke twice",
                 setup: [prepA, actA, prepB, actB, .x509AuthorityTainted(.init(authority: refA)), .x509AuthorityRevoked(.init(authority: refA))],
                 .x509AuthorityRevoked(.init(authority: refA)),
                 .invalidAuthorityTransition(refA, from: "old, tainted, revoked", event: .x509AuthorityRevoked)),
            Case("JWT: activate unknown", .jwtAuthorityActivated(.init(authority: F.reference("server-1", "k"))),
                 .authorityNotFound(F.reference("server-1", "k"))),
            Case("JWT: revoke a prepared key", setup: [jwtPrep], .jwtAuthorityRevoked(.init(authority: F.reference("server-1", "k"))),
                 .invalidAuthorityTransition(F.reference("server-1", "k"), from: "prepared", event: .jwtAuthorityRevoked)),

            Case("delete a missing federated bundle", .federatedBundleDeleted(.init(trustDomain: bundleDomain)),
                 .federatedBundleNotFound(bundleDomain)),
            Case("add an existing cluster member",
                 setup: [.clusterMemberAdded(.init(nodeName: F.node("s2"), address: "s2:1"))],
                 .clusterMemberAdded(.init(nodeName: F.node("s2"), address: "s2:2")), .clusterMemberExists(F.node("s2"))),
            Case("remove an unknown cluster member", .clusterMemberRemoved(.init(nodeName: F.node("s2"))),
                 .clusterMemberNotFound(F.node("s2"))),
        ]
    }()

    @Test("is rejected and changes nothing but the applied index", arguments: cases)
    func rejected(_ testCase: Case) {
        var h = Harness()
        for event in testCase.setup { h.must(event) }
        let before = h.state
        let outcome = h.apply(testCase.event, at: testCase.at)
        #expect(outcome == .rejected(testCase.expected))
        #expect(h.state.appliedIndex == before.appliedIndex.next)
        let strip: (IdentityState) -> [TableRow] = { state in
            state.tableRows().filter { $0.table != ProjectionTable.meta.rawValue || $0.key != Array("applied_index".utf8) }
        }
        #expect(strip(h.state) == strip(before))
        #expect(h.state.entriesBySelector == before.entriesBySelector)
        // Only the meta rows (applied index, unchanged bundle sequence) are written.
        #expect(Projector.tableWrites(for: outcome.changes, in: h.state).allSatisfy { $0.table == ProjectionTable.meta.rawValue })
    }

    @Test("every rejection has a description")
    func descriptions() {
        for testCase in Self.cases { #expect(!testCase.expected.description.isEmpty) }
    }

    @Test("an index that does not move forward is a broken invariant, checked before anything")
    func indexPrecondition() async {
        await #expect(processExitsWith: .failure) {
            var state = IdentityState()
            let envelope = EventEnvelope(
                issuedAt: F.t0, actor: .localAdmin(uid: 0), requestID: RequestID(high: 0, low: 1),
                event: .clusterMemberRemoved(.init(nodeName: F.node("x"))))
            _ = Projector.apply(envelope, at: LogIndex(2), to: &state)
            _ = Projector.apply(envelope, at: LogIndex(2), to: &state)
        }
    }
}
