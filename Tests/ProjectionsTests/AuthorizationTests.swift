import IdentityModel
import Projections
import SPIFFE
import Testing

/// SPIRE's authorization semantics (`entrycache.GetAuthorizedEntries`): an agent gets the
/// entries parented to its own ID, to node aliases its node selectors match, and recursively
/// to any SPIFFE ID it holds through an authorized entry.
@Suite("Authorization index")
struct AuthorizationTests {
    static let agentA = F.id("spiffe://example.org/spire/agent/x509pop/a")
    static let agentB = F.id("spiffe://example.org/spire/agent/x509pop/b")

    static func ids(_ entries: [RegistrationEntry]) -> [String] { entries.map(\.id.rawValue) }

    func harness(agents: [(SPIFFEID, [Selector])] = [(agentA, F.selectors("x509pop:ca:1", "x509pop:subject:cn:a"))]) -> Harness {
        var h = Harness()
        for (agent, selectors) in agents { h.must(F.attested(agent, selectors: selectors)) }
        return h
    }

    @Test("direct children of the agent ID")
    func directChildren() {
        var h = harness()
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "w1", spiffeID: "spiffe://example.org/web", parent: Self.agentA, selectors: F.selectors("unix:uid:1")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "w2", spiffeID: "spiffe://example.org/db", parent: Self.agentA, selectors: F.selectors("unix:uid:2")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "x", spiffeID: "spiffe://example.org/elsewhere", parent: F.id("spiffe://example.org/other"),
            selectors: F.selectors("unix:uid:3")))))
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentA)) == ["w1", "w2"])
    }

    @Test("join-token agent: `token generate -spiffeID X` alias, then workloads under X")
    func joinTokenAlias() {
        var h = Harness()
        let agent = F.id("spiffe://example.org/spire/agent/join_token/5a0c")
        h.must(F.attested(agent, selectors: F.selectors("join_token:5a0c"), canReattest: false))
        // The alias SPIRE creates: parent = the agent ID, SPIFFE ID = the chosen node name.
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "alias", spiffeID: "spiffe://example.org/node/n1", parent: agent, selectors: F.selectors("spiffe_id:" + agent.string)))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "web", spiffeID: "spiffe://example.org/web", parent: F.id("spiffe://example.org/node/n1"),
            selectors: F.selectors("unix:uid:1000")))))
        #expect(Self.ids(h.state.authorizedEntries(for: agent)) == ["alias", "web"])
    }

    @Test("-node entries: alias when its selectors are a subset of the node's")
    func nodeSelectorAlias() {
        var h = harness(agents: [
            (Self.agentA, F.selectors("x509pop:ca:1", "x509pop:subject:cn:a", "aws:tag:env:prod")),
            (Self.agentB, F.selectors("x509pop:ca:1", "x509pop:subject:cn:b")),
        ])
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "cluster", spiffeID: "spiffe://example.org/cluster/prod", parent: F.server,
            selectors: F.selectors("x509pop:ca:1", "aws:tag:env:prod")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "fleet", spiffeID: "spiffe://example.org/fleet", parent: F.server, selectors: F.selectors("x509pop:ca:1")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "svc", spiffeID: "spiffe://example.org/svc", parent: F.id("spiffe://example.org/cluster/prod"),
            selectors: F.selectors("k8s:ns:prod")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "fleet-agent", spiffeID: "spiffe://example.org/fleet-agent", parent: F.id("spiffe://example.org/fleet"),
            selectors: F.selectors("unix:uid:0")))))
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentA)) == ["cluster", "fleet", "fleet-agent", "svc"])
        // B lacks the prod tag: only the fleet alias matches.
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentB)) == ["fleet", "fleet-agent"])
        #expect(Self.ids(h.state.nodeAliases(for: h.state.agents[Self.agentB]!)) == ["fleet"])
    }

    @Test("an alias in another trust domain's server namespace is not an alias")
    func foreignServerParent() {
        var h = harness()
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "foreign", spiffeID: "spiffe://example.org/x", parent: F.id("spiffe://other.org/spire/server"),
            selectors: F.selectors("x509pop:ca:1")))))
        #expect(h.state.authorizedEntries(for: Self.agentA).isEmpty)
    }

    @Test("multi-level chains are followed to the end")
    func chain() {
        var h = harness()
        var parent = Self.agentA
        for level in 0..<10 {
            let spiffeID = "spiffe://example.org/level/\(level)"
            h.must(.registrationEntryCreated(.init(entry: F.entry(
                "l\(level)", spiffeID: spiffeID, parent: parent, selectors: F.selectors("unix:uid:\(level)")))))
            parent = F.id(spiffeID)
        }
        #expect(h.state.authorizedEntries(for: Self.agentA).count == 10)
    }

    @Test("cycles terminate and include each entry once")
    func cycle() {
        var h = harness()
        let x = F.id("spiffe://example.org/x")
        let y = F.id("spiffe://example.org/y")
        h.must(.registrationEntryCreated(.init(entry: F.entry("1", spiffeID: x.string, parent: Self.agentA, selectors: F.selectors("a:1")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry("2", spiffeID: y.string, parent: x, selectors: F.selectors("a:2")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry("3", spiffeID: x.string, parent: y, selectors: F.selectors("a:3")))))
        // An entry that names the agent itself as its SPIFFE ID closes a loop back to the start.
        h.must(.registrationEntryCreated(.init(entry: F.entry("4", spiffeID: Self.agentA.string, parent: y, selectors: F.selectors("a:4")))))
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentA)) == ["1", "2", "3", "4"])
    }

    @Test("two agents do not see each other's entries")
    func isolation() {
        var h = harness(agents: [(Self.agentA, F.selectors("x509pop:cn:a")), (Self.agentB, F.selectors("x509pop:cn:b"))])
        h.must(.registrationEntryCreated(.init(entry: F.entry("a1", spiffeID: "spiffe://example.org/a", parent: Self.agentA, selectors: F.selectors("u:1")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry("b1", spiffeID: "spiffe://example.org/b", parent: Self.agentB, selectors: F.selectors("u:1")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry(
            "alias-b", spiffeID: "spiffe://example.org/only-b", parent: F.server, selectors: F.selectors("x509pop:cn:b")))))
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentA)) == ["a1"])
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentB)) == ["alias-b", "b1"])
    }

    @Test("unknown and banned agents are authorized for nothing; evicted too")
    func bannedAndUnknown() {
        var h = harness()
        h.must(.registrationEntryCreated(.init(entry: F.entry("w", spiffeID: "spiffe://example.org/w", parent: Self.agentA, selectors: F.selectors("u:1")))))
        #expect(h.state.authorizedEntries(for: Self.agentB).isEmpty)
        h.must(.agentBanned(.init(agentID: Self.agentA)))
        #expect(h.state.authorizedEntries(for: Self.agentA).isEmpty)
        h.must(.agentEvicted(.init(agentID: Self.agentA)))
        #expect(h.state.authorizedEntries(for: Self.agentA).isEmpty)
    }

    @Test("updates and deletes move entries in and out of an agent's view")
    func followsChanges() {
        var h = harness(agents: [(Self.agentA, F.selectors("x509pop:cn:a")), (Self.agentB, F.selectors("x509pop:cn:b"))])
        var entry = F.entry("w", spiffeID: "spiffe://example.org/w", parent: Self.agentA, selectors: F.selectors("u:1"))
        h.must(.registrationEntryCreated(.init(entry: entry)))
        entry.parentID = Self.agentB
        entry.revisionNumber = 1
        h.must(.registrationEntryUpdated(.init(entry: entry)))
        #expect(h.state.authorizedEntries(for: Self.agentA).isEmpty)
        #expect(Self.ids(h.state.authorizedEntries(for: Self.agentB)) == ["w"])
        h.must(.registrationEntryDeleted(.init(entryID: entry.id, revisionNumber: 1)))
        #expect(h.state.authorizedEntries(for: Self.agentB).isEmpty)
    }

    @Test("workload matching: entry selectors must be a subset of the workload's")
    func workloadMatching() {
        var h = harness()
        h.must(.registrationEntryCreated(.init(entry: F.entry("one", spiffeID: "spiffe://example.org/1", parent: Self.agentA, selectors: F.selectors("unix:uid:1000")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry("two", spiffeID: "spiffe://example.org/2", parent: Self.agentA, selectors: F.selectors("unix:uid:1000", "unix:gid:50")))))
        h.must(.registrationEntryCreated(.init(entry: F.entry("other", spiffeID: "spiffe://example.org/3", parent: Self.agentA, selectors: F.selectors("unix:uid:2000")))))
        #expect(Self.ids(h.state.entries(matching: F.selectors("unix:uid:1000"))) == ["one"])
        #expect(Self.ids(h.state.entries(matching: F.selectors("unix:uid:1000", "unix:gid:50", "unix:path:/bin/x"))) == ["one", "two"])
        #expect(h.state.entries(matching: []).isEmpty)
        let authorized = h.state.authorizedEntries(for: Self.agentA)
        let workload = Set(F.selectors("unix:uid:2000", "unix:gid:1"))
        #expect(Self.ids(authorized.filter { $0.isMatched(by: workload) }) == ["other"])
    }
}
