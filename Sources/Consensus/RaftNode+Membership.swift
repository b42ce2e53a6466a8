/// Single-server membership changes (Ongaro's thesis §4.1–4.3).
///
/// A server uses the latest configuration in its log, committed or not, as the thesis
/// prescribes: it takes effect when the entry is appended (and is undone if a conflicting
/// append truncates the entry). Two rules keep consecutive changes from forming disjoint
/// majorities: only one change may be in the log unapplied, and a new leader must first commit
/// an entry of its own term (its no-op), as Ongaro's 2015 raft-dev correction requires.
///
/// NB: an earlier version applied configurations at apply time, as etcd does. The simulator
/// found a split brain with it: after "remove 3" and "remove 1" were committed, node 1 still
/// held both entries unapplied, used {1, 2, 3}, and won a term with node 3's vote while the
/// leader committed alone under {2}.
extension RaftNode {
    @discardableResult
    public mutating func proposeConfigurationChange(
        _ change: ConfigurationChange, requestID: RequestID = .none
    ) throws(ProposalError) -> LogIndex {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard leadTransferee == noNode else { throw .transferInProgress }
        guard hasCommittedInCurrentTerm else { throw .leaderNotReady }
        guard pendingConfigurationIndex <= log.applied else {
            throw .configurationChangeInProgress
        }
        switch change.kind {
        case .addVoter:
            guard !configuration.contains(change.node),
                  configuration.voters.count < Limits.votersMax else {
                throw .invalidConfigurationChange
            }
        case .removeVoter:
            guard configuration.contains(change.node), configuration.voters.count > 1 else {
                throw .invalidConfigurationChange
            }
        }
        let entry = Entry(
            term: term, index: 0, kind: .configurationChange, requestID: requestID,
            data: ConfigurationChangeCodec.encode(change))
        try checkUncommittedBudget(adding: entry)
        let index = appendAndBroadcast(entry)
        pendingConfigurationIndex = index
        return index
    }

    /// Applies a committed configuration entry; called from `advance` in log order. The
    /// configuration already took effect when the entry was appended; applying records it for
    /// snapshots and lets a leader that removed itself hand over.
    mutating func applyConfigurationEntry(_ entry: Entry) {
        precondition(entry.kind == .configurationChange)
        appliedConfiguration = appliedConfiguration.applying(Self.decodeChange(entry))
        if role == .leader && !appliedConfiguration.contains(id) && !configuration.contains(id) {
            handOffAfterRemoval()
        }
    }

    static func decodeChange(_ entry: Entry) -> ConfigurationChange {
        // NB: the entry was validated by the leader that wrote it, so garbage here means a
        // corrupted log; stopping is safer than guessing at membership.
        guard let change = ConfigurationChangeCodec.decode(entry.data) else {
            preconditionFailure("undecodable configuration change at \(entry.index)")
        }
        return change
    }

    /// Makes a configuration entry just appended to the log take effect.
    mutating func adoptConfigurationEntry(_ entry: Entry) {
        let change = Self.decodeChange(entry)
        configuration = configuration.applying(change)
        configurationIndex = entry.index
        configurationTerm = entry.term
        guard role == .leader else { return }
        switch change.kind {
        case .addVoter:
            if progress[change.node] == nil {
                var peer = Progress(next: log.lastIndex() + 1)
                peer.recentActive = true
                progress[change.node] = peer
            }
        case .removeVoter:
            // The leader keeps its own progress out of every count once it is not a voter.
            if change.node != id { progress[change.node] = nil }
            if leadTransferee == change.node { leadTransferee = noNode }
        }
    }

    /// Rebuilds `configuration` from the snapshot and every configuration entry in the log.
    /// Needed at start-up and when a conflicting append truncated the entry it came from.
    mutating func recomputeConfiguration() {
        let snapshot = log.unstableSnapshot ?? (try? log.storage.snapshot())
        configuration = snapshot?.metadata.configuration ?? appliedConfiguration
        configurationIndex = 0
        configurationTerm = 0
        let low = log.firstIndex()
        let high = log.lastIndex() + 1
        guard low < high, let entries = try? log.slice(from: low, to: high, maxBytes: .max) else {
            return
        }
        for entry in entries where entry.kind == .configurationChange {
            configuration = configuration.applying(Self.decodeChange(entry))
            configurationIndex = entry.index
            configurationTerm = entry.term
        }
    }

    /// After a follower append: adopts new configuration entries, or recomputes when the
    /// entry the current configuration came from was truncated away.
    mutating func refreshConfiguration(after entries: [Entry]) {
        let truncated = configurationIndex > log.lastIndex()
            || (configurationIndex > 0 && log.termOrZero(configurationIndex) != configurationTerm)
        if truncated || entries.contains(where: { $0.kind == .configurationChange }) {
            recomputeConfiguration()
        }
    }
}

extension RaftNode {
    /// A leader that applied its own removal keeps leading (it no longer counts towards any
    /// quorum) only long enough to hand over: it tells the remaining voters the commit index
    /// and transfers leadership to the most up-to-date of them. Stepping down at once would
    /// leave followers that have not yet learned the removal committed needing the removed
    /// server's vote under the old configuration. If the transfer does not finish within an
    /// election timeout, the leader steps down anyway (see `tickLeader`).
    mutating func handOffAfterRemoval() {
        precondition(role == .leader && !configuration.contains(id))
        let successor = configuration.voters.max { (progress[$0]?.match ?? 0, $1) < (progress[$1]?.match ?? 0, $0) }
        guard let successor else {
            becomeFollower(term: term, leader: noNode)
            return
        }
        broadcastAppend()
        leadTransferee = successor
        electionElapsedTicks = 0
        if progress[successor]?.match == log.lastIndex() {
            send(Message(kind: .timeoutNow, to: successor))
        }
    }
}

/// The payload of a configuration-change entry: version, kind, node ID (varint), and from
/// version 2 a length-prefixed context. Version 1 (no context) is still written when the
/// context is empty, so logs written before contexts existed read the same.
enum ConfigurationChangeCodec {
    static let version: UInt8 = 1
    static let versionWithContext: UInt8 = 2

    static func encode(_ change: ConfigurationChange) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(change.context.isEmpty ? version : versionWithContext)
        writer.write(change.kind.rawValue)
        writer.writeVarint(change.node)
        if !change.context.isEmpty { writer.writeBytes(change.context) }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> ConfigurationChange? {
        var reader = ByteReader(bytes)
        guard let format = try? reader.readByte(), format == version || format == versionWithContext,
              let rawKind = try? reader.readByte(),
              let kind = ConfigurationChange.Kind(rawValue: rawKind),
              let node = try? reader.readVarint(), node != noNode else { return nil }
        var context: [UInt8] = []
        if format == versionWithContext {
            guard let read = try? reader.readBytes(maximum: Limits.configurationContextBytesMax, "context"),
                  !read.isEmpty else { return nil }
            context = read
        }
        guard reader.isAtEnd else { return nil }
        return ConfigurationChange(kind, node: node, context: context)
    }
}
