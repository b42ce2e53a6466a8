import Agent
import Authority
import Config
import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import Testing
import Wire
import X509

/// The pure decisions of the agent runtime: folding sync messages, which entries a workload
/// gets, what to mint and when, backoff, CSRs, and the on-disk agent SVID.
@Suite("Agent sync state, cache and rotation decisions")
struct SyncCacheTests {
    static let td = try! TrustDomain(parsing: "example.org")
    static let agentID = try! SPIFFEID(parsing: "spiffe://example.org/spire/agent/join_token/t")
    static let serverID = SPIFFEID.server(in: td)

    static func wire(_ id: String, path: String, parent: SPIFFEID = agentID, selectors: [(String, String)] = [("unix", "uid:1")], revision: Int64 = 1) -> Spire_Api_Types_Entry {
        var entry = Spire_Api_Types_Entry()
        entry.id = id
        entry.spiffeID = try! SPIFFEID(parsing: "spiffe://example.org\(path)").wire
        entry.parentID = parent.wire
        entry.selectors = selectors.map { type, value in
            var selector = Spire_Api_Types_Selector()
            selector.type = type
            selector.value = value
            return selector
        }
        entry.revisionNumber = revision
        return entry
    }

    static func message(
        _ revision: UInt64, snapshot: Bool = false, upserted: [Spire_Api_Types_Entry] = [], deleted: [String] = []
    ) -> Lineage_Api_V1_WatchAuthorizedEntriesResponse {
        var message = Lineage_Api_V1_WatchAuthorizedEntriesResponse()
        message.revision = revision
        message.fullSnapshot = snapshot
        message.upserted = upserted
        message.deletedEntryIds = deleted
        return message
    }

    @Test("snapshot replaces, deltas upsert and delete, revisions never go back, bad messages change nothing")
    func syncedState() throws {
        var state = SyncedState(trustDomain: Self.td)
        var change = try state.apply(Self.message(5, snapshot: true, upserted: [Self.wire("a", path: "/a"), Self.wire("b", path: "/b")]))
        #expect(change.upserted == ["a", "b"])
        #expect(state.revision == 5)
        change = try state.apply(Self.message(6, upserted: [Self.wire("a", path: "/a", revision: 2)], deleted: ["b"]))
        #expect(change.upserted == ["a"])
        #expect(change.removed == ["b"])
        // Re-sending an identical entry is not a change.
        change = try state.apply(Self.message(7, upserted: [Self.wire("a", path: "/a", revision: 2)]))
        #expect(change.isEmpty)
        // A snapshot drops what it does not list.
        state = SyncedState(trustDomain: Self.td)
        _ = try state.apply(Self.message(1, upserted: [Self.wire("x", path: "/x")]))
        change = try state.apply(Self.message(2, snapshot: true, upserted: [Self.wire("y", path: "/y")]))
        #expect(change.removed == ["x"])
        #expect(Set(state.entries.keys) == ["y"])

        #expect(throws: SyncError(.revisionWentBack, "")) { try state.apply(Self.message(1)) }
        var bad = Self.wire("z", path: "/z")
        bad.parentID.trustDomain = "Not A Domain"
        let before = state
        #expect(throws: SyncError(.malformedEntry, "")) { try state.apply(Self.message(3, upserted: [bad])) }
        #expect(state == before)
    }

    @Test("workload entries: parent is the agent or a node alias it holds; alias entries themselves are not served")
    func workloadEntries() throws {
        var state = SyncedState(trustDomain: Self.td)
        _ = try state.apply(Self.message(1, snapshot: true, upserted: [
            Self.wire("alias", path: "/node/group", parent: Self.serverID, selectors: [("join_token", "t")]),
            Self.wire("direct", path: "/w1"),
            Self.wire("via-alias", path: "/w2", parent: try SPIFFEID(parsing: "spiffe://example.org/node/group")),
            Self.wire("other", path: "/w3", parent: try SPIFFEID(parsing: "spiffe://example.org/spire/agent/x")),
            // `token generate -spiffeID spiffe://example.org/myagent`: parent = the agent.
            Self.wire("token-alias", path: "/myagent", selectors: [("spiffe_id", Self.agentID.string)]),
            Self.wire("via-token-alias", path: "/w4", parent: try SPIFFEID(parsing: "spiffe://example.org/myagent")),
        ]))
        #expect(
            state.workloadEntries(agentID: Self.agentID).map(\.id) == ["direct", "token-alias", "via-alias", "via-token-alias"])
    }

    @Test("mint plan: missing, changed or half-life SVIDs are due; next rotation is the earliest half-life")
    func mintPlan() throws {
        let authority = try TestAuthority("example.org")
        let now = Date()
        let entries = [
            AuthorizedEntry(id: "a", spiffeID: try authority.id("/a"), parentID: Self.agentID, selectors: [WorkloadSelector(type: "unix", value: "uid:1")]),
            AuthorizedEntry(id: "b", spiffeID: try authority.id("/b"), parentID: Self.agentID, selectors: [WorkloadSelector(type: "unix", value: "uid:1")]),
        ]
        #expect(MintPlan.entriesToMint(entries: entries, held: [:], now: now) == ["a", "b"])
        #expect(MintPlan.entriesToMint(entries: entries, held: [:], now: now, limit: 1) == ["a"])

        // Half-life arithmetic, with SPIRE's 10 s backdating of NotBefore.
        let notBefore = now - 10
        #expect(SVIDRotation.renewalTime(notBefore: notBefore, notAfter: notBefore + 100) == notBefore + 50)
        #expect(!SVIDRotation.isDue(notBefore: notBefore, notAfter: notBefore + 100, now: notBefore + 49))
        #expect(SVIDRotation.isDue(notBefore: notBefore, notAfter: notBefore + 100, now: notBefore + 50))
    }

    @Test("the cache serves entries whose selectors are a subset of the workload's, drops removed entries at once")
    func cacheMatchingAndDrop() async throws {
        let authority = try TestAuthority("example.org")
        let cache = SVIDCache(trustDomain: Self.td, bootstrapBundle: authority.x509Bundle)
        cache.setAgentID(Self.agentID)
        try cache.apply(Self.message(1, snapshot: true, upserted: [
            Self.wire("one", path: "/one", selectors: [("unix", "uid:1")]),
            Self.wire("two", path: "/two", selectors: [("unix", "uid:1"), ("unix", "gid:2")]),
        ]))
        let (due, _) = cache.mintPlan()
        #expect(due.map(\.id) == ["one", "two"])
        cache.store(due.map { ($0, try! authority.svid($0.spiffeID.path)) })
        #expect(cache.mintPlan().due.isEmpty)

        let uid1: Set<WorkloadSelector> = [WorkloadSelector(type: "unix", value: "uid:1")]
        let both = uid1.union([WorkloadSelector(type: "unix", value: "gid:2")])
        #expect(cache.identities(for: uid1).identities.map(\.entryID) == ["one"])
        #expect(cache.identities(for: both).identities.map(\.entryID) == ["one", "two"])
        #expect(cache.identities(for: []).identities.isEmpty)
        #expect(cache.identities(for: both).x509Bundle == authority.x509Bundle)

        var changes = try cache.changes().makeAsyncIterator()
        try cache.apply(Self.message(2, deleted: ["one"]))
        #expect(await changes.next() != nil)
        #expect(cache.identities(for: both).identities.map(\.entryID) == ["two"])
        #expect(cache.heldSVIDCount == 1)

        // An SVID minted for an entry that changed meanwhile is discarded.
        let stale = try AuthorizedEntry(Self.wire("two", path: "/two", selectors: [("unix", "uid:1"), ("unix", "gid:2")]))
        try cache.apply(Self.message(3, upserted: [Self.wire("two", path: "/two-renamed", selectors: [("unix", "uid:1")], revision: 2)]))
        cache.store([(stale, try authority.svid("/two"))])
        #expect(cache.mintPlan().due.map(\.id) == ["two"])
    }

    @Test("backoff doubles up to its cap and resets")
    func backoff() {
        var backoff = Backoff(base: .milliseconds(100), cap: .seconds(1))
        #expect(backoff.ceiling == .milliseconds(100))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3 { #expect(backoff.nextDelay(using: &generator) <= .milliseconds(400)) }
        #expect(backoff.ceiling == .milliseconds(800))
        _ = backoff.nextDelay(using: &generator)
        #expect(backoff.ceiling == .seconds(1))
        for _ in 0..<100 { _ = backoff.nextDelay(using: &generator) }
        #expect(backoff.ceiling == .seconds(1))
        backoff.reset()
        #expect(backoff.ceiling == .milliseconds(100))
    }

    @Test("a CSR is DER PKCS#10 signed by the key, accepted by the server-side CSR check")
    func csr() throws {
        let key = SVIDRequest.newKey()
        let der = try SVIDRequest.csr(for: key)
        let publicKey = try CSRValidator.publicKey(fromDER: der)
        #expect(publicKey == key.publicKey)
        let parsed = try CertificateSigningRequest(derEncoded: der)
        #expect(parsed.subject.description.contains("O=SPIRE"))
    }

    @Test("server addresses: host + server_port, host:port lists, IPv6")
    func serverEndpoints() throws {
        #expect(try ServerEndpoint.parse("spire.example", defaultPort: 8081) == [ServerEndpoint(host: "spire.example", port: 8081)])
        #expect(try ServerEndpoint.parse("a:1,b:2", defaultPort: 8081).map(\.description) == ["a:1", "b:2"])
        #expect(try ServerEndpoint.parse("[::1]:9", defaultPort: 8081).map(\.description) == ["[::1]:9"])
        #expect(throws: ServerTrustError.self) { try ServerEndpoint.parse("a:notaport", defaultPort: 8081) }
    }

    @Test("run configuration from an agent.conf: bundle file, server list, socket, key manager; trust_bundle_url checked")
    func configuration() throws {
        let authority = try TestAuthority("example.org")
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try authority.x509Bundle.pemEncoded().write(toFile: directory + "/b.pem", atomically: true, encoding: .utf8)
        let text = """
            agent {
                trust_domain = "example.org"
                server_address = "s1:1,s2:2"
                trust_bundle_path = "\(directory)/b.pem"
                socket_path = "\(directory)/api.sock"
            }
            plugins {
                NodeAttestor "join_token" { plugin_data {} }
                KeyManager "memory" { plugin_data {} }
            }
            """
        let parsed = try AgentConfig.parse(text, file: "agent.conf", overrides: .init(joinToken: "tok"))
        let configuration = try AgentRuntime.Configuration(parsed)
        #expect(configuration.servers.map(\.description) == ["s1:1", "s2:2"])
        #expect(configuration.bootstrapBundle == authority.x509Bundle)
        #expect(configuration.joinToken == "tok")
        #expect(configuration.endpoint.socketPath == directory + "/api.sock")

        #expect(configuration.keyManager == .memory)
        #expect(configuration.bootstrapBundleDownload == nil)

        let url = text.replacingOccurrences(
            of: "trust_bundle_path = \"\(directory)/b.pem\"", with: "trust_bundle_url = \"https://bundle.example:8443/b?x=1\"")
        let downloading = try AgentRuntime.Configuration(try AgentConfig.parse(url, file: "agent.conf"))
        #expect(downloading.bootstrapBundle == nil)
        #expect(downloading.bootstrapBundleDownload?.download.url == "https://bundle.example:8443/b?x=1")
        #expect(downloading.bootstrapBundleDownload?.format == .pem)
        // A bundle file of another trust domain names itself and the trust domain it is for.
        try (try TestAuthority("other.org")).x509Bundle.pemEncoded().write(toFile: directory + "/b.pem", atomically: true, encoding: .utf8)
        #expect(throws: AgentRunError.self) { try AgentRuntime.Configuration(parsed) }
    }
}

