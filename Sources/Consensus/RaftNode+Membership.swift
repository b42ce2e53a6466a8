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
        if change.kind == .removeVoter && change.node == id {
            // A leader that is no longer a voter steps down; the rest elect a successor.
            becomeFollower(term: term, leader: noNode)
            return
        }
        if maybeCommit() { broadcastAppend() }
        if change.kind == .addVoter { sendAppend(to: change.node) }
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
