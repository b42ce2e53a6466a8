/// Single-server membership changes (Ongaro's thesis §4.2).
///
/// Like etcd, a configuration takes effect when its entry is *applied*, i.e. when `advance`
/// sees it among a `Ready`'s committed entries, not when it is appended. Until then the old
/// configuration counts votes and commits. Two rules keep consecutive changes from forming
/// disjoint majorities: only one change may be in the log unapplied, and a new leader must
/// first commit an entry of its own term (its no-op), as Ongaro's 2015 raft-dev correction
/// requires.
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

    /// Applies a committed configuration entry; called from `advance` in log order.
    mutating func applyConfigurationEntry(_ entry: Entry) {
        precondition(entry.kind == .configurationChange)
        // NB: the entry was validated by the leader that wrote it, so garbage here means a
        // corrupted log; stopping is safer than guessing at membership.
        guard let change = ConfigurationChangeCodec.decode(entry.data) else {
            preconditionFailure("undecodable configuration change at \(entry.index)")
        }
        configuration = configuration.applying(change)
        guard role == .leader else { return }
        switch change.kind {
        case .addVoter:
            if progress[change.node] == nil {
                var peer = Progress(next: log.lastIndex() + 1)
                peer.recentActive = true
                progress[change.node] = peer
            }
        case .removeVoter:
            progress[change.node] = nil
            if leadTransferee == change.node { leadTransferee = noNode }
        }
        if maybeCommit() { broadcastAppend() }
        if change.kind == .removeVoter && change.node == id {
            handOffAfterRemoval()
            return
        }
        if change.kind == .addVoter { sendAppend(to: change.node) }
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

/// The payload of a configuration-change entry: version, kind, node ID (big-endian).
enum ConfigurationChangeCodec {
    static let version: UInt8 = 1

    static func encode(_ change: ConfigurationChange) -> [UInt8] {
        var writer = ByteWriter()
        writer.write(version)
        writer.write(change.kind.rawValue)
        writer.writeVarint(change.node)
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> ConfigurationChange? {
        var reader = ByteReader(bytes)
        guard (try? reader.readByte()) == version,
              let rawKind = try? reader.readByte(),
              let kind = ConfigurationChange.Kind(rawValue: rawKind),
              let node = try? reader.readVarint(), node != noNode,
              reader.isAtEnd else { return nil }
        return ConfigurationChange(kind, node: node)
    }
}
