/// Log replication: proposals, AppendEntries on both sides, commit, flow control.
extension RaftNode {
    /// Proposes a client command. Returns the index the command will occupy if it commits.
    ///
    /// A request ID the leader still holds uncommitted is not appended again: its existing
    /// index is returned. Retries that reach a different leader are caught when applying, by
    /// `ClientSessionTable`. The caller learns of success only by seeing the entry applied.
    @discardableResult
    public mutating func propose(
        _ data: [UInt8], requestID: RequestID
    ) throws(ProposalError) -> LogIndex {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard leadTransferee == noNode else { throw .transferInProgress }
        guard data.count <= Limits.proposalBytesMax else { throw .tooLarge }
        if !requestID.isNone,
           let existing = uncommittedProposals.first(where: { $0.requestID == requestID }) {
            return existing.index
        }
        let entry = Entry(term: term, index: 0, kind: .command, requestID: requestID, data: data)
        try checkUncommittedBudget(adding: entry)
        return appendAndBroadcast(entry)
    }

    func checkUncommittedBudget(adding entry: Entry) throws(ProposalError) {
        // NB: an empty pipeline always accepts one entry, so a single large proposal can't
        // wedge the leader forever.
        if uncommittedBytes > 0 && uncommittedBytes + entry.sizeBytes > Limits.uncommittedBytesMax {
            throw .backpressure
        }
    }

    mutating func appendAndBroadcast(_ entry: Entry) -> LogIndex {
        let index = appendAsLeader([entry])
        broadcastAppend()
        return index
    }

    /// Stamps term and index on new entries, appends them and counts our own copy.
    @discardableResult
    mutating func appendAsLeader(_ entries: [Entry]) -> LogIndex {
        precondition(role == .leader, "only a leader appends its own entries")
        var last = log.lastIndex()
        var stamped: [Entry] = []
        for var entry in entries {
            last += 1
            entry.term = term
            entry.index = last
            stamped.append(entry)
            if entry.kind != .noop {
                uncommittedProposals.append((last, entry.requestID, entry.sizeBytes))
                uncommittedBytes += entry.sizeBytes
            }
        }
        log.append(stamped)
        for entry in stamped where entry.kind == .configurationChange {
            adoptConfigurationEntry(entry)
        }
        // NB: counting ourselves before the entries are on disk is safe because the driver
        // persists a Ready's entries before it steps any acknowledgement that could commit
        // them (it may send a leader's appends first; the answers wait for its next pass).
        _ = progress[id]?.update(acknowledged: last)
        maybeCommit()
        return last
    }

    /// Advances the commit index to the highest index stored on a quorum, but only if that
    /// entry is from the current term (Raft §5.4.2; earlier entries commit indirectly).
    @discardableResult
    mutating func maybeCommit() -> Bool {
        let matches = configuration.voters.map { progress[$0]?.match ?? 0 }.sorted(by: >)
        guard !matches.isEmpty else { return false }
        let candidate = matches[configuration.quorum - 1]
        guard candidate > log.committed else { return false }
        let countsEarlierTerms = mutations.contains(.commitPreviousTermByCounting)
        guard countsEarlierTerms || log.termOrZero(candidate) == term else { return false }
        log.advanceCommit(to: candidate)
        releaseCommittedProposals()
        startReadsAwaitingTermCommit()
        return true
    }

    mutating func releaseCommittedProposals() {
        let committed = log.committed
        while let first = uncommittedProposals.first, first.index <= committed {
            uncommittedBytes -= first.sizeBytes
            uncommittedProposals.removeFirst()
        }
        precondition(uncommittedBytes >= 0, "uncommitted byte count went negative")
    }

    mutating func broadcastAppend() {
        for voter in configuration.voters where voter != id {
            _ = sendAppend(to: voter)
        }
    }

    mutating func broadcastHeartbeat(context: UInt64) {
        for voter in configuration.voters where voter != id {
            // A follower may only learn a commit index its log is known to contain.
            let commit = min(progress[voter]?.match ?? 0, log.committed)
            send(Message(kind: .heartbeat, to: voter, commit: commit, context: context))
        }
    }

    /// Sends the next append (or a snapshot) to `peer` unless its progress is paused.
    /// Returns whether a message was sent.
    @discardableResult
    mutating func sendAppend(to peer: NodeID, sendIfEmpty: Bool = true) -> Bool {
        guard var peerProgress = progress[peer], !peerProgress.isPaused else { return false }
        let previousIndex = peerProgress.next - 1
        let previousTerm: Term
        var entries: [Entry]
        do {
            previousTerm = try log.term(at: previousIndex)
            entries = try log.slice(
                from: peerProgress.next, to: log.lastIndex() + 1,
                maxBytes: Limits.appendBatchBytesMax)
        } catch .compacted {
            return sendSnapshot(to: peer)
        } catch {
            preconditionFailure("progress for \(peer) points past the log: next \(peerProgress.next) last \(log.lastIndex()) match \(peerProgress.match) state \(peerProgress.state) id \(id) term \(term)")
        }
        if entries.count > settings.appendBatchEntriesMax {
            entries.removeSubrange(settings.appendBatchEntriesMax...)
        }
        if entries.isEmpty && !sendIfEmpty { return false }
        send(Message(
            kind: .append, to: peer, logTerm: previousTerm, index: previousIndex,
            entries: entries, commit: log.committed))
        peerProgress.sent(lastIndex: previousIndex + LogIndex(entries.count), count: entries.count)
        progress[peer] = peerProgress
        return true
    }

    /// Sends the storage snapshot to a follower whose next entry was compacted away.
    mutating func sendSnapshot(to peer: NodeID) -> Bool {
        guard let snapshot = try? log.storage.snapshot() else { return false }
        precondition(!snapshot.isEmpty, "log compacted without a snapshot")
        send(Message(kind: .snapshot, to: peer, snapshot: snapshot))
        progress[peer]?.becomeSnapshot(at: snapshot.metadata.index)
        return true
    }

    /// A snapshot whose answer was lost must not leave the follower stranded: after an
    /// election timeout the leader probes again, which re-sends the snapshot if still needed.
    mutating func tickSnapshotRetries() {
        for (peer, var peerProgress) in progress where peerProgress.state == .snapshot {
            peerProgress.snapshotElapsedTicks += 1
            if peerProgress.snapshotElapsedTicks >= settings.electionTimeoutTicks {
                peerProgress.becomeProbe()
            }
            progress[peer] = peerProgress
        }
    }

    mutating func stepLeader(_ message: Message) {
        guard progress[message.from] != nil else { return }
        progress[message.from]?.recentActive = true
        switch message.kind {
        case .appendResponse:
            handleAppendResponse(message)
        case .heartbeatResponse:
            progress[message.from]?.probeSent = false
            // NB: appends lost in flight are never acknowledged, so a full window would stall
            // replication forever; a live follower frees one slot per heartbeat, after which
            // the next append either fills the gap or is rejected and triggers a probe.
            if progress[message.from]?.state == .replicate,
               progress[message.from]?.isPaused == true {
                progress[message.from]?.inflight.removeFirst()
            }
            if let peer = progress[message.from], peer.match < log.lastIndex() {
                sendAppend(to: message.from)
            }
            if message.context != 0 { acknowledgeRead(context: message.context, from: message.from) }
        default:
            break
        }
    }

    mutating func handleAppendResponse(_ message: Message) {
        let peer = message.from
        guard var peerProgress = progress[peer] else { return }
        if message.reject {
            let hint = message.logTerm > 0
                ? log.findConflictByTerm(message.rejectHint, message.logTerm) : message.rejectHint
            if peerProgress.decrement(rejected: message.index, hint: hint) {
                if peerProgress.state == .replicate { peerProgress.becomeProbe() }
                progress[peer] = peerProgress
                sendAppend(to: peer)
            }
            return
        }
        // NB: an acknowledgement past our last index is impossible in a correct cluster (it
        // means a follower committed entries this leader lacks). Ignore it rather than let it
        // corrupt progress; the simulator's checkers report the underlying divergence.
        guard message.index <= log.lastIndex() else { return }
        let wasPaused = peerProgress.isPaused
        guard peerProgress.update(acknowledged: message.index) else {
            progress[peer] = peerProgress
            if wasPaused { sendAppend(to: peer) }
            return
        }
        switch peerProgress.state {
        case .probe:
            peerProgress.becomeReplicate()
        case .snapshot where peerProgress.match >= peerProgress.pendingSnapshot:
            peerProgress.becomeProbe()
            peerProgress.becomeReplicate()
        case .replicate:
            peerProgress.freeInflight(through: message.index)
        case .snapshot:
            break
        }
        progress[peer] = peerProgress
        if maybeCommit() {
            broadcastAppend()
        } else {
            sendAppend(to: peer, sendIfEmpty: false)
        }
        // Keep streaming while the follower has room and we have entries.
        while sendAppend(to: peer, sendIfEmpty: false) {}
        if peer == leadTransferee && peerProgress.match == log.lastIndex() {
            send(Message(kind: .timeoutNow, to: peer))
        }
    }

    mutating func handleAppend(_ message: Message) {
        if message.index < log.committed {
            // Everything up to our commit index is settled; tell the leader where we are.
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        let truncate = mutations.contains(.truncateOnStaleAppend)
        if let lastNew = log.maybeAppend(
            index: message.index, logTerm: message.logTerm, commit: message.commit,
            entries: message.entries, truncateOnStaleAppend: truncate) {
            refreshConfiguration(after: message.entries)
            send(Message(kind: .appendResponse, to: message.from, index: lastNew))
            return
        }
        let hint = log.findConflictByTerm(message.index, message.logTerm)
        send(Message(
            kind: .appendResponse, to: message.from, logTerm: log.termOrZero(hint),
            index: message.index, reject: true, rejectHint: hint))
    }

    mutating func handleHeartbeat(_ message: Message) {
        log.advanceCommit(to: min(message.commit, log.lastIndex()))
        send(Message(kind: .heartbeatResponse, to: message.from, context: message.context))
    }

    mutating func handleSnapshot(_ message: Message) {
        guard let snapshot = message.snapshot, !snapshot.isEmpty else { return }
        let metadata = snapshot.metadata
        if metadata.index <= log.committed {
            // Old news: we already have everything it covers.
            send(Message(kind: .appendResponse, to: message.from, index: log.committed))
            return
        }
        if log.matchTerm(metadata.index, metadata.term) {
            // Our log already contains the snapshot's last entry, so it agrees with everything
            // before it; just fast-forward the commit index and keep the log.
            // NB: acknowledge only the snapshot's index; entries after it may still conflict.
            log.advanceCommit(to: metadata.index)
            send(Message(kind: .appendResponse, to: message.from, index: metadata.index))
            return
        }
        // NB: install atomically. The snapshot replaces the whole log (the conflicting tail is
        // dropped with it), and the ack names the snapshot's index so the leader resumes after
        // it instead of sending the same snapshot forever.
        log.restore(snapshot)
        configuration = metadata.configuration
        appliedConfiguration = metadata.configuration
        configurationIndex = 0
        configurationTerm = 0
        send(Message(kind: .appendResponse, to: message.from, index: log.lastIndex()))
    }
}
