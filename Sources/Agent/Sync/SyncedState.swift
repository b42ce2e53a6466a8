import SPIFFE
import Wire

/// The agent's local copy of what the server authorized it to serve: entries, its trust
/// domain's bundle and federated bundles, and the log revision they are current at.
///
/// Pure: `apply` folds one `WatchAuthorizedEntriesResponse` (lineage.api.v1.AgentSync) into the
/// state and reports what changed, so the caller can mint, drop and notify. A message is applied
/// entirely or not at all: any malformed part refuses the whole message and the state stays at
/// the previous revision, from which the stream resumes.
public struct SyncedState: Sendable, Equatable {
    public let trustDomain: TrustDomain
    /// The log index the state is current at; 0 before the first message.
    public private(set) var revision: UInt64 = 0
    public private(set) var entries: [String: AuthorizedEntry] = [:]
    /// The own trust domain's bundle, once the server sent it.
    public private(set) var bundle: SPIFFEBundle?
    public private(set) var federatedBundles: [TrustDomain: SPIFFEBundle] = [:]

    public init(trustDomain: TrustDomain) {
        self.trustDomain = trustDomain
    }

    /// What one message changed.
    public struct Change: Equatable, Sendable {
        /// Entries added or changed (IDs), sorted.
        public var upserted: [String] = []
        /// Entries removed (IDs), sorted: their SVIDs must be dropped at once.
        public var removed: [String] = []
        public var bundleChanged = false
        public var federatedBundlesChanged = false

        public var isEmpty: Bool { upserted.isEmpty && removed.isEmpty && !bundleChanged && !federatedBundlesChanged }
    }

    public mutating func apply(_ message: Lineage_Api_V1_WatchAuthorizedEntriesResponse) throws(SyncError) -> Change {
        guard message.upserted.count <= Limits.syncMessageEntriesMax,
            message.deletedEntryIds.count <= Limits.syncMessageEntriesMax
        else {
            throw SyncError(.tooLarge, "a sync message carries more than \(Limits.syncMessageEntriesMax) entries")
        }
        // A stream resumes from our revision, so anything older is a server bug; a snapshot may
        // restate the current revision (e.g. the first message of a stream that had no news).
        guard message.revision >= revision else {
            throw SyncError(.revisionWentBack, "sync revision \(message.revision) is older than \(revision)")
        }
        var upserted: [String: AuthorizedEntry] = [:]
        for wire in message.upserted {
            let entry = try AuthorizedEntry(wire)
            upserted[entry.id] = entry
        }
        var bundle = self.bundle
        var bundleChanged = false
        if message.hasBundle {
            let received = try SPIFFEBundle(wire: message.bundle)
            guard received.trustDomain == trustDomain else {
                throw SyncError(.malformedBundle, "own bundle is for \(received.trustDomain), not \(trustDomain)")
            }
            bundleChanged = received != bundle
            bundle = received
        }
        var federated = federatedBundles
        let federatedBefore = federated
        for wire in message.federatedBundles {
            let received = try SPIFFEBundle(wire: wire)
            guard received.trustDomain != trustDomain else {
                throw SyncError(.malformedBundle, "the own trust domain \(trustDomain) cannot be federated")
            }
            federated[received.trustDomain] = received
        }
        for name in message.deletedFederatedBundles {
            guard let trustDomain = try? TrustDomain(parsing: name) else { continue }
            federated.removeValue(forKey: trustDomain)
        }
        guard federated.count <= Limits.federatedBundlesMax else {
            throw SyncError(.tooLarge, "more than \(Limits.federatedBundlesMax) federated bundles")
        }

        var next = message.fullSnapshot ? [:] : entries
        for id in message.deletedEntryIds { next.removeValue(forKey: id) }
        next.merge(upserted) { _, new in new }
        guard next.count <= Limits.syncEntriesMax else {
            throw SyncError(.tooLarge, "more than \(Limits.syncEntriesMax) authorized entries")
        }

        var change = Change()
        change.upserted = upserted.values.filter { entries[$0.id] != $0 }.map(\.id).sorted()
        change.removed = entries.keys.filter { next[$0] == nil }.sorted()
        change.bundleChanged = bundleChanged
        change.federatedBundlesChanged = federated != federatedBefore

        entries = next
        self.bundle = bundle
        federatedBundles = federated
        revision = message.revision
        return change
    }

    /// The entries a workload can receive: those descending from the agent, as the server's
    /// authorization does (DESIGN.md "Authorization follows SPIRE"). The agent holds its own ID
    /// and the ID of every node alias entry the server sent (parent = the server, SPIRE's
    /// `-node` entries); an entry parented to a held ID is the agent's, and its SPIFFE ID is held
    /// in turn (so `token generate -spiffeID X` entries — parent = the agent — make X a parent
    /// too). Node alias entries themselves are not served. Sorted by entry ID; O(entries).
    public func workloadEntries(agentID: SPIFFEID) -> [AuthorizedEntry] {
        let serverID = SPIFFEID.server(in: trustDomain)
        var byParent: [SPIFFEID: [AuthorizedEntry]] = [:]
        for entry in entries.values { byParent[entry.parentID, default: []].append(entry) }
        var held: Set<SPIFFEID> = [agentID]
        var queue: [SPIFFEID] = [agentID]
        for alias in byParent[serverID] ?? [] where held.insert(alias.spiffeID).inserted { queue.append(alias.spiffeID) }
        var result: [AuthorizedEntry] = []
        var index = 0
        while index < queue.count {
            let parent = queue[index]
            index += 1
            for entry in byParent[parent] ?? [] where parent != serverID {
                result.append(entry)
                if held.insert(entry.spiffeID).inserted { queue.append(entry.spiffeID) }
            }
        }
        return result.filter { !$0.selectors.isEmpty }.sorted { $0.id < $1.id }
    }
}
