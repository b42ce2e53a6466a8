import Consensus

/// Cluster-wide safety properties, checked continuously against a global record of what any
/// replica has ever observed.
struct SafetyChecker {
    /// What any node applied at each index: the entry's identity, never allowed to change.
    struct AppliedRecord: Equatable {
        var term: Term
        var kind: EntryKind
        var requestID: RequestID
        var dataDigest: UInt64
    }

    private(set) var leaderByTerm: [Term: NodeID] = [:]
    private(set) var appliedRecords: [LogIndex: AppliedRecord] = [:]
    private(set) var digestByIndex: [LogIndex: UInt64] = [:]
    /// The index at which each request took effect, the first (and only allowed) time.
    private(set) var effectByRequest: [RequestID: LogIndex] = [:]

    /// At most one leader per term, ever; and commit indexes never move back while running.
    mutating func checkRoles<Machine>(_ nodes: [SimulatedNode<Machine>], step: Int) throws(Violation) {
        for node in nodes where node.raft != nil {
            // NB: read fields through the optional instead of binding a copy of the node.
            let id = node.id
            let term = node.raft!.term
            if node.raft!.role == .leader {
                if let existing = leaderByTerm[term], existing != id {
                    throw Violation(
                        kind: .electionSafety, step: step,
                        detail: "nodes \(existing) and \(id) both lead term \(term)")
                }
                leaderByTerm[term] = id
            }
            let commit = node.raft!.commitIndex
            if commit < node.commitSeen {
                throw Violation(
                    kind: .commitRegression, step: step,
                    detail: "node \(id) commit \(node.commitSeen) -> \(commit)")
            }
            node.commitSeen = commit
        }
    }

    var leadersElected: Int { leaderByTerm.count }

    /// Log matching on the committed prefix: an index applied anywhere holds the same entry
    /// everywhere, forever.
    mutating func checkApplied(_ entry: Entry, step: Int) throws(Violation) {
        let record = AppliedRecord(
            term: entry.term, kind: entry.kind, requestID: entry.requestID,
            dataDigest: fnv1a64(entry.data))
        if let existing = appliedRecords[entry.index], existing != record {
            throw Violation(
                kind: .logMismatch, step: step,
                detail: "index \(entry.index) applied as term \(existing.term) \(existing.requestID)"
                    + " and as term \(entry.term) \(entry.requestID)")
        }
        appliedRecords[entry.index] = record
    }

    /// Replicated state is identical at every applied index.
    mutating func checkDigest(index: LogIndex, digest: UInt64, step: Int) throws(Violation) {
        if let existing = digestByIndex[index], existing != digest {
            throw Violation(
                kind: .stateDivergence, step: step,
                detail: "state at index \(index) differs between replicas")
        }
        digestByIndex[index] = digest
    }

    mutating func checkSnapshot(_ snapshot: Snapshot, digest: UInt64, step: Int) throws(Violation) {
        try checkDigest(index: snapshot.metadata.index, digest: digest, step: step)
    }

    /// A request takes effect at one index only.
    mutating func recordEffect(of entry: Entry, step: Int) throws(Violation) {
        guard !entry.requestID.isNone else { return }
        if let existing = effectByRequest[entry.requestID], existing != entry.index {
            throw Violation(
                kind: .duplicateApplication, step: step,
                detail: "request \(entry.requestID) took effect at \(existing) and \(entry.index)")
        }
        effectByRequest[entry.requestID] = entry.index
    }

    func effectIndex(of requestID: RequestID) -> LogIndex? { effectByRequest[requestID] }
}
