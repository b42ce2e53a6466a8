import IdentityModel
import SPIFFE

/// Which entries an agent may fetch, with SPIRE's semantics (`entrycache.GetAuthorizedEntries`).
extension IdentityState {
    /// The entries `agentID` is authorized for, sorted by entry ID.
    ///
    /// The agent holds its own ID. Node alias entries — parent `spiffe://<td>/spire/server` and
    /// selectors all among the agent's node selectors — are authorized and their SPIFFE IDs are
    /// held too. Then every entry whose parent is a held ID is authorized and its SPIFFE ID is
    /// held, recursively. A visited set ends cycles; `Limits.authorizationHeldIDsMax` and
    /// `Limits.authorizedEntriesMax` bound the work. The crawl visits IDs and entries in sorted
    /// order, so even a truncated answer is the same on every replica.
    ///
    /// An unknown or banned agent is authorized for nothing: SPIRE refuses its calls before it
    /// looks at entries, and a projection must not be the one place that forgets to.
    public func authorizedEntries(for agentID: SPIFFEID) -> [RegistrationEntry] {
        guard let agent = agents[agentID], !agent.banned else { return [] }
        var held: Set<SPIFFEID> = [agentID]
        var queue: [SPIFFEID] = [agentID]
        var authorized: Set<RegistrationEntryID> = []

        func authorize(_ entry: RegistrationEntry) {
            guard authorized.count < Limits.authorizedEntriesMax, authorized.insert(entry.id).inserted else { return }
            if held.count < Limits.authorizationHeldIDsMax, held.insert(entry.spiffeID).inserted {
                queue.append(entry.spiffeID)
            }
        }

        for alias in nodeAliases(for: agent) { authorize(alias) }
        var next = 0
        while next < queue.count {
            let parent = queue[next]
            next += 1
            for id in (entriesByParentID[parent] ?? []).sorted() {
                guard let entry = entries[id] else { preconditionFailure("entry index out of step with entries") }
                authorize(entry)
            }
        }
        return authorized.sorted().compactMap { entries[$0] }
    }

    /// The node alias entries whose selectors the agent's node selectors cover, by entry ID.
    public func nodeAliases(for agent: AgentRecord) -> [RegistrationEntry] {
        let server = SPIFFEID.server(in: agent.spiffeID.trustDomain)
        let nodeSelectors = Set(agent.selectors)
        return (entriesByParentID[server] ?? []).sorted().compactMap { entries[$0] }
            .filter { $0.isMatched(by: nodeSelectors) }
    }

    /// Every entry whose selectors are all among `workloadSelectors`, sorted by entry ID, found
    /// through the selector index. An agent runs the same test on its authorized entries with
    /// `RegistrationEntry.isMatched(by:)`.
    public func entries(matching workloadSelectors: some Sequence<Selector>) -> [RegistrationEntry] {
        let selectors = Set(workloadSelectors)
        var candidates: Set<RegistrationEntryID> = []
        for selector in selectors { candidates.formUnion(entriesBySelector[selector] ?? []) }
        return candidates.sorted().compactMap { entries[$0] }.filter { $0.isMatched(by: selectors) }
    }
}

extension RegistrationEntry {
    /// An entry matches a workload (or a node, for node aliases) when every one of the entry's
    /// selectors is among the observed ones: observed selectors may be a superset.
    public func isMatched(by observedSelectors: Set<Selector>) -> Bool {
        !selectors.isEmpty && selectors.allSatisfy(observedSelectors.contains)
    }
}
