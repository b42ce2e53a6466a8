import IdentityModel
import SPIFFE

/// Registration entries and join tokens: the compare-and-set checks of SPIRE's datastore.
extension Projector {
    static func createEntry(_ entry: RegistrationEntry, in state: inout IdentityState) -> ApplyOutcome {
        if state.entries[entry.id] != nil { return .rejected(.entryIDExists(entry.id)) }
        if let existing = state.similarEntry(to: entry) { return .rejected(.duplicateEntry(existing: existing)) }
        if entry.revisionNumber != 0 {
            return .rejected(.revisionMismatch(entry.id, expected: 0, actual: entry.revisionNumber))
        }
        if state.entries.count >= Limits.registrationEntriesMax {
            return .rejected(.limitReached("registrationEntriesMax"))
        }
        state.insertEntry(entry)
        return .applied([.entryUpserted(entry)])
    }

    static func updateEntry(_ entry: RegistrationEntry, in state: inout IdentityState) -> ApplyOutcome {
        guard let current = state.entries[entry.id] else { return .rejected(.entryNotFound(entry.id)) }
        let expected = current.revisionNumber + 1
        if entry.revisionNumber != expected {
            return .rejected(.revisionMismatch(entry.id, expected: expected, actual: entry.revisionNumber))
        }
        if let existing = state.similarEntry(to: entry) { return .rejected(.duplicateEntry(existing: existing)) }
        state.replaceEntry(entry)
        return .applied([.entryUpserted(entry)])
    }

    static func deleteEntry(
        _ id: RegistrationEntryID, revisionNumber: Int64, in state: inout IdentityState
    ) -> ApplyOutcome {
        guard let current = state.entries[id] else { return .rejected(.entryNotFound(id)) }
        if current.revisionNumber != revisionNumber {
            return .rejected(.revisionMismatch(id, expected: current.revisionNumber, actual: revisionNumber))
        }
        let removed = state.removeEntry(id)
        return .applied([.entryDeleted(removed)])
    }

    /// Records a new token and prunes tokens that expired by `now`, so the table stays bounded
    /// without a background sweeper (which would need a clock).
    static func createJoinToken(_ token: JoinToken, now: Timestamp, in state: inout IdentityState) -> ApplyOutcome {
        if state.joinTokens[token.tokenSHA256] != nil { return .rejected(.joinTokenExists(token.tokenSHA256)) }
        let expiredCount = state.joinTokenExpiries.countExpired(at: now)
        if state.joinTokens.count - expiredCount >= Limits.joinTokensMax {
            return .rejected(.limitReached("joinTokensMax"))
        }
        var changes = state.removeExpiredJoinTokens(at: now).map(Change.joinTokenRemoved)
        let record = JoinTokenRecord(token: token)
        state.insertJoinToken(record)
        changes.append(.joinTokenUpserted(record))
        return .applied(changes)
    }

    /// The compare-and-set that closes SPIRE's join-token race (1.14.6): of any number of
    /// consumes of one token in the log, only the first before expiry applies.
    static func consumeJoinToken(
        _ hash: SHA256Digest, agentID: SPIFFEID, now: Timestamp, in state: inout IdentityState
    ) -> ApplyOutcome {
        guard var record = state.joinTokens[hash] else { return .rejected(.joinTokenUnknown(hash)) }
        if let holder = record.consumedBy { return .rejected(.joinTokenAlreadyConsumed(hash, by: holder)) }
        if record.token.expiresAt <= now { return .rejected(.joinTokenExpired(hash)) }
        record.consumedBy = agentID
        state.joinTokens[hash] = record
        return .applied([.joinTokenUpserted(record)])
    }
}
