import ChangeFeed
import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import Wire

/// `lineage.api.v1.AgentSync`: an agent's authorized entries and bundles, pushed as the log
/// changes — what SPIRE's 5-second poll becomes.
///
/// The stream opens with a full snapshot of the agent's view at some revision, then follows the
/// change feed from exactly that revision; after each change it sends what moved in this
/// agent's view (entries upserted or deleted, the bundle when it changed). A feed that tells the
/// stream to resync (the agent fell too far behind) gets a fresh snapshot.
struct AgentSyncService: Lineage_Api_V1_AgentSync.SimpleServiceProtocol {
    let api: ServerAPI

    func watchAuthorizedEntries(
        request: Lineage_Api_V1_WatchAuthorizedEntriesRequest,
        response: RPCWriter<Lineage_Api_V1_WatchAuthorizedEntriesResponse>, context: ServerContext
    ) async throws {
        let agent = try await api.agentCaller()
        while !Task.isCancelled {
            // Read the state first, then follow the feed from its revision: the view is published
            // before the feed, so nothing after this revision can be missed.
            let state = api.log.state
            var sent = View(state: state, agent: agent.spiffeID, trustDomain: api.trustDomain)
            try await response.write(sent.snapshot(revision: state.appliedIndex.rawValue))
            var resync = false
            for await event in api.log.feed.subscribe(from: state.appliedIndex) {
                switch event {
                case .changes(let revision, _):
                    let current = api.log.state
                    guard current.agents[agent.spiffeID].map({ !$0.banned }) ?? false else {
                        throw RPCError(code: .permissionDenied, message: "agent \(agent.spiffeID) was banned or evicted")
                    }
                    let next = View(state: current, agent: agent.spiffeID, trustDomain: api.trustDomain)
                    if let delta = sent.delta(to: next, revision: revision.rawValue) { try await response.write(delta) }
                    sent = next
                case .resync:
                    resync = true
                }
            }
            // The subscription ended without a resync: the server is stopping.
            if !resync { return }
        }
    }

    /// What one agent sees: its authorized entries and the bundle.
    struct View {
        var entries: [String: Spire_Api_Types_Entry]
        var bundle: Spire_Api_Types_Bundle

        init(state: IdentityState, agent: SPIFFEID, trustDomain: TrustDomain) {
            entries = Dictionary(
                state.authorizedEntries(for: agent).map { ($0.id.rawValue, WireMapping.wire($0)) },
                uniquingKeysWith: { first, _ in first })
            bundle = WireMapping.wire(state.ownBundle, trustDomain: trustDomain)
        }

        func snapshot(revision: UInt64) -> Lineage_Api_V1_WatchAuthorizedEntriesResponse {
            var message = Lineage_Api_V1_WatchAuthorizedEntriesResponse()
            message.revision = revision
            message.fullSnapshot = true
            message.upserted = entries.keys.sorted().compactMap { entries[$0] }
            message.bundle = bundle
            return message
        }

        /// What changed from `self` to `next`, or nil when this agent's view did not move.
        func delta(to next: View, revision: UInt64) -> Lineage_Api_V1_WatchAuthorizedEntriesResponse? {
            var message = Lineage_Api_V1_WatchAuthorizedEntriesResponse()
            message.revision = revision
            message.upserted = next.entries.keys.sorted().compactMap { id in
                next.entries[id] == entries[id] ? nil : next.entries[id]
            }
            message.deletedEntryIds = entries.keys.filter { next.entries[$0] == nil }.sorted()
            if next.bundle != bundle { message.bundle = next.bundle }
            guard !message.upserted.isEmpty || !message.deletedEntryIds.isEmpty || message.hasBundle else { return nil }
            return message
        }
    }
}
