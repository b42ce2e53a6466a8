/// The log as the core sees it: a durable part read through `RaftLogStorage`, followed by an
/// unstable part the application has not yet persisted.
///
/// NB: the invariant between the two parts is that `unstableOffset - 1` is the last index the
/// core considers stable. Entries in storage past that point have been superseded in memory
/// (a truncation that the next `Ready` will write over) and must not be read. A pending
/// snapshot (`unstableSnapshot`) replaces everything before `unstableOffset`.
struct RaftLog<Storage: RaftLogStorage> {
    let storage: Storage
    private(set) var unstableSnapshot: Snapshot?
    private(set) var unstableEntries: [Entry] = []
    /// The index of the first entry in `unstableEntries`.
    private(set) var unstableOffset: LogIndex
    /// The highest index known to be committed by a quorum.
    private(set) var committed: LogIndex
    /// The highest index handed to the application for applying.
    private(set) var applied: LogIndex

    init(storage: Storage, committed: LogIndex) {
        self.storage = storage
        unstableOffset = storage.lastIndex() + 1
        applied = storage.firstIndex() - 1
        // The commit index on disk may lag a snapshot taken from applied state.
        self.committed = max(committed, applied)
        precondition(self.committed <= unstableOffset - 1, "commit index past the log end")
    }

    func firstIndex() -> LogIndex {
        if let snapshot = unstableSnapshot { return snapshot.metadata.index + 1 }
        return storage.firstIndex()
    }

    func lastIndex() -> LogIndex { unstableOffset + LogIndex(unstableEntries.count) - 1 }

    func lastTerm() -> Term { termOrZero(lastIndex()) }

    func term(at index: LogIndex) throws(StorageError) -> Term {
        if index < firstIndex() - 1 { throw .compacted }
        if index > lastIndex() { throw .unavailable }
        if index >= unstableOffset { return unstableEntries[Int(index - unstableOffset)].term }
        if let snapshot = unstableSnapshot {
            precondition(index == snapshot.metadata.index)
            return snapshot.metadata.term
        }
        return try storage.term(at: index)
    }

    /// The term at `index`, or zero when the index is compacted or past the end.
    func termOrZero(_ index: LogIndex) -> Term { (try? term(at: index)) ?? 0 }

    func matchTerm(_ index: LogIndex, _ term: Term) -> Bool {
        (try? self.term(at: index)) == term
    }

    /// Raft §5.4.1: a candidate's log is at least as up to date as ours.
    func isUpToDate(lastIndex candidateIndex: LogIndex, term candidateTerm: Term) -> Bool {
        let ourTerm = lastTerm()
        return candidateTerm > ourTerm || (candidateTerm == ourTerm && candidateIndex >= lastIndex())
    }

    /// Entries in `[low, high)` from storage and the unstable part, at most `maxBytes`
    /// (but at least one entry when the range is not empty).
    func slice(from low: LogIndex, to high: LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        precondition(low <= high, "inverted slice \(low)..<\(high)")
        if low < firstIndex() { throw .compacted }
        precondition(high <= lastIndex() + 1, "slice past the log end")
        var result: [Entry] = []
        if low < unstableOffset {
            let storedHigh = min(high, unstableOffset)
            result = try storage.entries(from: low, to: storedHigh, maxBytes: maxBytes)
            if LogIndex(result.count) < storedHigh - low { return result }
        }
        if high > unstableOffset {
            let start = Int(max(low, unstableOffset) - unstableOffset)
            result.append(contentsOf: unstableEntries[start..<Int(high - unstableOffset)])
        }
        return limitSize(result, maxBytes: maxBytes)
    }

    /// The index of the first entry in `entries` that is missing here or disagrees on term,
    /// or nil when the log already holds all of them (a stale or duplicate append).
    func findConflict(_ entries: [Entry]) -> LogIndex? {
        entries.first { !matchTerm($0.index, $0.term) }?.index
    }

    /// The largest index at or below `index` whose term is at most `term`. Used to skip a whole
    /// term of divergent entries per round trip when a follower rejects an append.
    func findConflictByTerm(_ index: LogIndex, _ term: Term) -> LogIndex {
        var candidate = min(index, lastIndex())
        let floor = firstIndex() - 1
        while candidate > floor, termOrZero(candidate) > term { candidate -= 1 }
        return candidate
    }

    /// Follower side of AppendEntries (Raft Figure 2, receiver steps 2–5). Returns the index of
    /// the last entry the message covers, or nil if our log does not contain (`index`, `term`).
    mutating func maybeAppend(
        index: LogIndex, logTerm: Term, commit: LogIndex, entries: [Entry],
        truncateOnStaleAppend: Bool = false
    ) -> LogIndex? {
        guard matchTerm(index, logTerm) else { return nil }
        let lastNew = index + LogIndex(entries.count)
        // NB: only a real conflict (same index, different term) truncates. A stale or duplicate
        // message whose entries all match must never delete entries after them, because the
        // leader may already have counted them towards a commit.
        if let conflict = findConflict(entries) {
            precondition(conflict > committed, "entry \(conflict) conflicts with committed prefix")
            append(Array(entries[Int(conflict - index - 1)...]))
        } else if truncateOnStaleAppend, lastNew < lastIndex(), lastNew >= committed {
            truncate(after: lastNew)
        }
        advanceCommit(to: min(commit, lastNew))
        return lastNew
    }

    /// Appends entries to the unstable part, replacing whatever they supersede.
    @discardableResult
    mutating func append(_ entries: [Entry]) -> LogIndex {
        guard let first = entries.first else { return lastIndex() }
        precondition(first.index > committed, "append at \(first.index) would rewrite commits")
        precondition(first.index <= lastIndex() + 1, "gap before \(first.index)")
        if first.index <= unstableOffset {
            // The new entries replace all unstable entries and part of storage's tail.
            unstableOffset = first.index
            unstableEntries = entries
        } else {
            unstableEntries.removeSubrange(Int(first.index - unstableOffset)...)
            unstableEntries.append(contentsOf: entries)
        }
        return lastIndex()
    }

    /// Forgets everything after `index` (used only by a deliberately broken mutation).
    private mutating func truncate(after index: LogIndex) {
        if index + 1 >= unstableOffset {
            unstableEntries.removeSubrange(Int(index + 1 - unstableOffset)...)
        } else {
            unstableOffset = index + 1
            unstableEntries = []
        }
    }

    mutating func advanceCommit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex(), "commit \(index) past the log end \(lastIndex())")
        committed = index
    }

    mutating func advanceApplied(to index: LogIndex) {
        guard index > applied else { return }
        precondition(index <= committed, "applied \(index) beyond commit \(committed)")
        applied = index
    }

    /// Committed entries not yet handed to the application, at most `maxBytes` of them.
    func nextCommittedEntries(maxBytes: Int) -> [Entry] {
        let low = max(applied + 1, firstIndex())
        guard low <= committed else { return [] }
        do {
            return try slice(from: low, to: committed + 1, maxBytes: maxBytes)
        } catch {
            preconditionFailure("committed entries \(low)...\(committed) unreadable: \(error)")
        }
    }

    /// Called once the application has persisted entries through `index` with `term`.
    mutating func stable(to index: LogIndex, term: Term) {
        guard index >= unstableOffset, index <= lastIndex() else { return }
        // A term mismatch means the entries were replaced after the Ready was taken.
        guard unstableEntries[Int(index - unstableOffset)].term == term else { return }
        unstableEntries.removeFirst(Int(index - unstableOffset + 1))
        unstableOffset = index + 1
    }

    mutating func stableSnapshot(to index: LogIndex) {
        if unstableSnapshot?.metadata.index == index { unstableSnapshot = nil }
    }

    /// Replaces the whole log with `snapshot`; the next `Ready` persists it.
    mutating func restore(_ snapshot: Snapshot) {
        precondition(snapshot.metadata.index > committed, "snapshot would roll back commits")
        committed = snapshot.metadata.index
        applied = snapshot.metadata.index
        unstableOffset = snapshot.metadata.index + 1
        unstableEntries = []
        unstableSnapshot = snapshot
    }
}
