/// Elections: randomized timeouts, pre-vote, votes, the leader lease and check-quorum.
extension RaftNode {
    enum CampaignKind {
        /// A pre-vote round at `term + 1` that changes no state on any voter.
        case preElection
        /// A real election that increments the term.
        case election
        /// A real election started by `timeoutNow`, which voters honour despite the lease.
        case transfer
    }

    mutating func tickElection() {
        electionElapsedTicks += 1
        guard isPromotable, electionElapsedTicks >= randomizedElectionTimeoutTicks else { return }
        electionElapsedTicks = 0
        campaign(settings.preVote ? .preElection : .election)
    }

    mutating func tickLeader() {
        heartbeatElapsedTicks += 1
        electionElapsedTicks += 1
        tickSnapshotRetries()
        if electionElapsedTicks >= settings.electionTimeoutTicks {
            electionElapsedTicks = 0
            if settings.checkQuorum && !hasActiveQuorum() {
                // NB: a leader cut off from a quorum steps down, so clients go elsewhere and a
                // stale leader cannot keep accepting writes that will never commit.
                becomeFollower(term: term, leader: noNode)
                return
            }
            // A transfer that has not finished within an election timeout is abandoned; a
            // leader that was removed from the configuration then steps down regardless.
            leadTransferee = noNode
            if !appliedConfiguration.contains(id) {
                becomeFollower(term: term, leader: noNode)
                return
            }
        }
        if heartbeatElapsedTicks >= settings.heartbeatIntervalTicks {
            heartbeatElapsedTicks = 0
            broadcastHeartbeat(context: 0)
        }
    }

    /// Counts voters heard from since the last check (the leader counts itself) and clears
    /// the marks for the next round.
    mutating func hasActiveQuorum() -> Bool {
        var active = 0
        for voter in configuration.voters {
            if voter == id || progress[voter]?.recentActive == true { active += 1 }
            progress[voter]?.recentActive = false
        }
        return active >= configuration.quorum
    }

    mutating func campaign(_ kind: CampaignKind) {
        guard isPromotable else { return }
        let voteTerm: Term
        let requestKind: MessageKind
        if kind == .preElection {
            becomePreCandidate()
            voteTerm = term + 1
            requestKind = .preVote
        } else {
            becomeCandidate()
            voteTerm = term
            requestKind = .vote
        }
        if recordVote(from: id, granted: true) { return }
        for voter in configuration.voters where voter != id {
            send(Message(
                kind: requestKind, to: voter, term: voteTerm, logTerm: log.lastTerm(),
                index: log.lastIndex(), context: kind == .transfer ? Message.transferContext : 0))
        }
    }

    /// Records a vote and acts on the tally. Returns true when the round is decided.
    mutating func recordVote(from voter: NodeID, granted: Bool) -> Bool {
        if votes[voter] == nil { votes[voter] = granted }
        let granted = configuration.voters.filter { votes[$0] == true }.count
        let rejected = configuration.voters.filter { votes[$0] == false }.count
        if granted >= configuration.quorum {
            if role == .preCandidate {
                campaign(.election)
            } else {
                becomeLeader()
            }
            return true
        }
        if rejected >= configuration.quorum {
            becomeFollower(term: term, leader: noNode)
            return true
        }
        return false
    }

    /// Applies the term rules shared by every role. Returns false if the message is dropped.
    mutating func stepTerm(_ message: Message) -> Bool {
        if message.term > term {
            return stepHigherTerm(message)
        }
        if message.term < term {
            stepLowerTerm(message)
            return false
        }
        return true
    }

    private mutating func stepHigherTerm(_ message: Message) -> Bool {
        if message.isVoteRequest {
            let forced = message.context == Message.transferContext
            let inLease = settings.checkQuorum && leader != noNode
                && electionElapsedTicks < settings.electionTimeoutTicks
            // NB: while we hear from a live leader, a vote request is a disruptive server (for
            // example one rejoining after a partition); ignoring it keeps the leader stable.
            if inLease && !forced && !mutations.contains(.skipPreVoteTermCheck) { return false }
        }
        switch message.kind {
        case .preVote:
            // A pre-vote never changes our term.
            return true
        case .preVoteResponse where !message.reject:
            // A granted pre-vote carries the term we would campaign at; it is not a new term.
            return true
        case .append, .heartbeat, .snapshot:
            becomeFollower(term: message.term, leader: message.from)
        default:
            becomeFollower(term: message.term, leader: noNode)
        }
        return true
    }

    private mutating func stepLowerTerm(_ message: Message) {
        switch message.kind {
        case .append, .heartbeat:
            // A stale leader learns our term from this and steps down (Raft Figure 2). Without
            // it, a leader partitioned away, or removed from the configuration, might never
            // learn that the cluster moved on, since nobody else has reason to contact it.
            send(Message(kind: .appendResponse, to: message.from))
        case .preVote:
            send(Message(kind: .preVoteResponse, to: message.from, reject: true))
        case .vote:
            // The rejection carries our term (Raft Figure 2). Without it a candidate whose
            // requests only ever reach servers in higher terms (say, after a membership change
            // that only it knows of) would campaign forever at terms nobody answers.
            send(Message(kind: .voteResponse, to: message.from, reject: true))
        default:
            break
        }
    }

    mutating func handleVoteRequest(_ message: Message) {
        if message.kind == .preVote && role == .preCandidate && message.term == term + 1 {
            handleRivalPreVote(message)
            return
        }
        let responseKind: MessageKind = message.kind == .vote ? .voteResponse : .preVoteResponse
        let canVote = vote == message.from
            || (vote == noNode && leader == noNode)
            || (message.kind == .preVote && message.term > term)
            || (message.kind == .vote && mutations.contains(.grantTwoVotesPerTerm))
        guard canVote, log.isUpToDate(lastIndex: message.index, term: message.logTerm) else {
            send(Message(kind: responseKind, to: message.from, reject: true))
            return
        }
        // A granted pre-vote answers with the proposed term so the pre-candidate can tell
        // fresh grants from stale ones.
        send(Message(kind: responseKind, to: message.from, term: message.term))
        if message.kind == .vote {
            electionElapsedTicks = 0
            vote = message.from
        }
    }

    /// A pre-vote from a node pre-campaigning for the same term as this one. Granting each
    /// other, both would start real elections, each vote for itself and split the vote; with
    /// two of three members left (a leader just failed) nobody wins and the cluster waits a
    /// further election timeout. Pre-votes change no state, so the tie may be broken freely:
    /// the node whose log is more up to date, or with equal logs the higher node ID, keeps
    /// campaigning and refuses; the other grants and stands down until its next timeout.
    private mutating func handleRivalPreVote(_ message: Message) {
        let theirsUpToDate = log.isUpToDate(lastIndex: message.index, term: message.logTerm)
        let oursAtLeastAsUpToDate = log.lastTerm() > message.logTerm
            || (log.lastTerm() == message.logTerm && log.lastIndex() >= message.index)
        if oursAtLeastAsUpToDate && (!theirsUpToDate || id > message.from) {
            send(Message(kind: .preVoteResponse, to: message.from, reject: true))
            return
        }
        send(Message(kind: .preVoteResponse, to: message.from, term: message.term))
        becomeFollower(term: term, leader: noNode)
    }

    mutating func stepCandidate(_ message: Message) {
        switch message.kind {
        case .append:
            becomeFollower(term: message.term, leader: message.from)
            handleAppend(message)
        case .heartbeat:
            becomeFollower(term: message.term, leader: message.from)
            handleHeartbeat(message)
        case .snapshot:
            becomeFollower(term: message.term, leader: message.from)
            handleSnapshot(message)
        case .voteResponse where role == .candidate:
            _ = recordVote(from: message.from, granted: !message.reject)
        case .preVoteResponse where role == .preCandidate:
            // Only grants for our proposed term, or rejections at our term, count.
            let expectedTerm = message.reject ? term : term + 1
            guard message.term == expectedTerm else { return }
            _ = recordVote(from: message.from, granted: !message.reject)
        default:
            break
        }
    }

    mutating func stepFollower(_ message: Message) {
        switch message.kind {
        case .append:
            electionElapsedTicks = 0
            leader = message.from
            handleAppend(message)
        case .heartbeat:
            electionElapsedTicks = 0
            leader = message.from
            handleHeartbeat(message)
        case .snapshot:
            electionElapsedTicks = 0
            leader = message.from
            handleSnapshot(message)
        case .timeoutNow:
            // Leadership transfer: campaign at once, skipping pre-vote, with the transfer mark.
            campaign(.transfer)
        default:
            break
        }
    }
}
