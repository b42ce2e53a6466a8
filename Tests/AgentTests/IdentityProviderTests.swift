@testable import Agent
import Foundation
import SPIFFE
import SwiftProtobuf
import Testing
import Wire

/// The provider seam and the pure pieces behind the endpoint, without sockets.
@Suite("Identity provider and stream bookkeeping")
struct IdentityProviderTests {
    @Test("selectors parse on the first colon; empty type or value is refused", arguments: [
        ("unix:uid:1000", "unix", "uid:1000"), ("k8s:ns:a:b", "k8s", "ns:a:b"),
    ])
    func selectorParsing(text: String, type: String, value: String) {
        #expect(WorkloadSelector(parsing: text) == WorkloadSelector(type: type, value: value))
    }

    @Test("malformed selectors", arguments: ["unix", ":uid:0", "unix:", ""])
    func malformedSelector(text: String) {
        #expect(WorkloadSelector(parsing: text) == nil)
    }

    @Test("an entry matches when its selectors are a non-empty subset of the workload's; results sorted by entry ID")
    func subsetMatching() throws {
        let authority = try TestAuthority("example.org")
        let uid = WorkloadSelector(type: "unix", value: "uid:1")
        let gid = WorkloadSelector(type: "unix", value: "gid:2")
        let other = WorkloadSelector(type: "unix", value: "uid:3")
        let provider = try StaticIdentityProvider.make(authority, entries: [
            ("z", "/uid", [uid]), ("m", "/both", [uid, gid]), ("a", "/other", [uid, other]), ("b", "/none", []),
        ])
        #expect(provider.identities(for: [uid, gid]).identities.map(\.entryID) == ["m", "z"])
        #expect(provider.identities(for: [uid]).identities.map(\.entryID) == ["z"])
        #expect(provider.identities(for: [gid]).identities.isEmpty)
        #expect(provider.identities(for: []).identities.isEmpty)
        #expect(provider.identities(for: []).x509Bundle == authority.x509Bundle, "bundles come without identities too")
    }

    @Test("served identities keep the first entry per non-empty hint; federated bundles follow federatesWith")
    func hintsAndFederation() throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let idle = try TestAuthority("idle.test")
        let svid = try authority.svid("/w")
        let state = WorkloadIdentities(
            identities: [
                WorkloadIdentity(entryID: "3", svid: svid, hint: "x", federatesWith: [idle.trustDomain]),
                WorkloadIdentity(entryID: "1", svid: svid, hint: "x", federatesWith: [partner.trustDomain]),
                WorkloadIdentity(entryID: "2", svid: svid),
                WorkloadIdentity(entryID: "4", svid: svid),
            ],
            x509Bundle: authority.x509Bundle, jwtBundle: try authority.jwtBundle,
            federatedBundles: [partner.trustDomain: try partner.spiffeBundle, idle.trustDomain: try idle.spiffeBundle])
        #expect(state.servedIdentities.map(\.entryID) == ["1", "2", "4"])
        #expect(state.relevantFederatedBundles.map(\.trustDomain) == [partner.trustDomain])
    }

    @Test("change signals are newest-only, bounded in subscribers, and end on finish")
    func broadcaster() async throws {
        let broadcaster = IdentityChangeBroadcaster(subscribersMax: 2)
        let first = try broadcaster.subscribe()
        let second = try broadcaster.subscribe()
        #expect(throws: IdentityProviderError.self) { try broadcaster.subscribe() }
        for _ in 0..<100 { broadcaster.publish() }
        var iterator = first.makeAsyncIterator()
        #expect(await iterator.next() == 100, "only the newest revision is buffered")
        first.finish()
        #expect(await iterator.next() == nil)
        second.finish()
        try await eventually("subscribers released", timeout: .seconds(15)) { broadcaster.subscriberCount == 0 }
        _ = try broadcaster.subscribe()
    }

    @Test("open streams are bounded and all end on shutdown")
    func openStreams() async throws {
        let streams = OpenStreams(streamsMax: 1)
        let (ended, end) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await streams.withStream(end: { end.finish() }) {
                    for await _ in ended {}
                }
            }
            try await eventually("stream open", timeout: .seconds(15)) { streams.count == 1 }
            await #expect(throws: WorkloadEndpointError.self) {
                try await streams.withStream(end: {}) {}
            }
            streams.shutDown()
            try await group.waitForAll()
        }
        #expect(streams.count == 0)
        await #expect(throws: WorkloadEndpointError.shuttingDown) {
            try await streams.withStream(end: {}) {}
        }
    }

    @Test("SDS stream state: first request sends, ACK and stale nonces do not, names and updates do")
    func sdsStreamState() {
        typealias Request = Envoy_Service_Discovery_V3_DiscoveryRequest
        var state = SDSStreamState()
        let node = Envoy_Config_Core_V3_Node.with { $0.id = "n" }
        var due = state.providerChanged()
        #expect(!due, "nothing requested yet")
        #expect(state.version == 2)
        due = state.receive(.with { $0.node = node; $0.resourceNames = ["default"] })
        #expect(due, "the first request is answered")
        state.sent(nonce: "0000000a")
        due = state.receive(.with { $0.versionInfo = "2"; $0.responseNonce = "0000000a"; $0.resourceNames = ["default"] })
        #expect(!due, "a plain ACK")
        #expect(state.node == node, "the node of the first request is kept")
        #expect(state.rejections == 0)
        due = state.receive(.with { $0.versionInfo = ""; $0.responseNonce = "0000000a"; $0.resourceNames = ["default"] })
        #expect(!due, "a NACK without a name change")
        #expect(state.rejections == 1)
        due = state.receive(.with { $0.responseNonce = "ffffffff"; $0.resourceNames = ["ROOTCA"] })
        #expect(!due, "a stale nonce")
        #expect(state.lastRequest?.resourceNames == ["default"])
        due = state.receive(.with { $0.responseNonce = "0000000a"; $0.resourceNames = ["ROOTCA", "default"] })
        #expect(due, "new names")
        due = state.receive(.with { $0.responseNonce = "0000000a"; $0.resourceNames = ["default", "ROOTCA"] })
        #expect(!due, "the same set in another order")
        due = state.providerChanged()
        #expect(due)
        #expect(state.version == 3)
        let nonce = SDSStreamState.makeNonce()
        #expect(nonce.count == 8 && nonce.allSatisfy(\.isHexDigit))
    }

    @Test("an SDS stream's request queue is bounded")
    func sdsInbox() throws {
        let inbox = SDSInbox()
        for _ in 0..<Limits.sdsPendingRequestsMax { try inbox.push(.init()) }
        #expect(throws: WorkloadEndpointError.self) { try inbox.push(.init()) }
        inbox.markChanged()
        let pending = inbox.drain()
        #expect(pending.requests.count == Limits.sdsPendingRequestsMax && pending.changed && !pending.closed)
        #expect(inbox.drain().requests.isEmpty)
    }
}
