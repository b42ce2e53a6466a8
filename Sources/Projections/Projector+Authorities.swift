import IdentityModel

/// The fields the CA journal rules read, shared by X.509 and JWT authorities so both follow one
/// lifecycle.
protocol JournalRecord: Sendable {
    var reference: AuthorityReference { get }
    var phase: AuthorityPhase { get set }
    var tainted: Bool { get set }
    var revoked: Bool { get set }
    var notAfter: Timestamp { get }
}

extension X509AuthorityRecord: JournalRecord {
    var notAfter: Timestamp { descriptor.notAfter }
}

extension JWTAuthorityRecord: JournalRecord {
    var notAfter: Timestamp { descriptor.notAfter }
}

/// The CA journal: SPIRE's prepare → activate → old rotation, and its operator steps taint
/// (old authorities only) and revoke (tainted authorities only).
extension Projector {
    static func prepareX509(
        _ descriptor: X509AuthorityDescriptor, now: Timestamp, in state: inout IdentityState
    ) -> ApplyOutcome {
        prepare(
            X509AuthorityRecord(descriptor: descriptor, phase: .prepared), now: now, journal: \.x509Authorities,
            upserted: Change.x509AuthorityUpserted, removed: Change.x509AuthorityRemoved, in: &state)
    }

    static func prepareJWT(
        _ descriptor: JWTAuthorityDescriptor, now: Timestamp, in state: inout IdentityState
    ) -> ApplyOutcome {
        prepare(
            JWTAuthorityRecord(descriptor: descriptor, phase: .prepared), now: now, journal: \.jwtAuthorities,
            upserted: Change.jwtAuthorityUpserted, removed: Change.jwtAuthorityRemoved, in: &state)
    }

    static func transitionX509(
        _ reference: AuthorityReference, _ kind: EventKind, in state: inout IdentityState
    ) -> ApplyOutcome {
        transition(reference, kind, journal: \.x509Authorities, upserted: Change.x509AuthorityUpserted, in: &state)
    }

    static func transitionJWT(
        _ reference: AuthorityReference, _ kind: EventKind, in state: inout IdentityState
    ) -> ApplyOutcome {
        transition(reference, kind, journal: \.jwtAuthorities, upserted: Change.jwtAuthorityUpserted, in: &state)
    }

    /// Publishes a new authority (it joins the bundle at once, before it signs anything) and
    /// prunes the same server's old authorities that expired by `now`: nothing they signed
    /// still verifies, so keeping them would only grow the bundle.
    static func prepare<Record: JournalRecord>(
        _ record: Record, now: Timestamp,
        journal: WritableKeyPath<IdentityState, [AuthorityReference: Record]>,
        upserted: (Record) -> Change, removed: (AuthorityReference) -> Change,
        in state: inout IdentityState
    ) -> ApplyOutcome {
        let server = record.reference.serverNodeName
        if state[keyPath: journal][record.reference] != nil { return .rejected(.authorityExists(record.reference)) }
        let own = state[keyPath: journal].values.filter { $0.reference.serverNodeName == server }
        let expired = own.filter { $0.phase == .old && $0.notAfter <= now }.map(\.reference)
        let live = own.filter { !$0.revoked && !expired.contains($0.reference) }
        if live.count >= Limits.liveAuthoritiesPerServerMax {
            return .rejected(.limitReached("liveAuthoritiesPerServerMax"))
        }
        var changes: [Change] = []
        for reference in expired.sorted(by: { $0.authorityID < $1.authorityID }) {
            state[keyPath: journal][reference] = nil
            changes.append(removed(reference))
        }
        state[keyPath: journal][record.reference] = record
        changes.append(upserted(record))
        changes.append(bumpBundle(in: &state))
        return .applied(changes)
    }

    static func transition<Record: JournalRecord>(
        _ reference: AuthorityReference, _ kind: EventKind,
        journal: WritableKeyPath<IdentityState, [AuthorityReference: Record]>,
        upserted: (Record) -> Change, in state: inout IdentityState
    ) -> ApplyOutcome {
        guard var record = state[keyPath: journal][reference] else { return .rejected(.authorityNotFound(reference)) }
        let refused = ApplyOutcome.rejected(
            .invalidAuthorityTransition(reference, from: describe(record), event: kind))
        var changes: [Change] = []
        switch kind {
        case .x509AuthorityActivated, .jwtAuthorityActivated:
            guard record.phase == .prepared, !record.revoked, !record.tainted else { return refused }
            // The server's previous active authority retires in the same step: one signer each.
            let previous = state[keyPath: journal].values
                .filter { $0.reference.serverNodeName == reference.serverNodeName && $0.phase == .active }
                .map(\.reference).sorted { $0.authorityID < $1.authorityID }
            for other in previous {
                state[keyPath: journal][other]?.phase = .old
                if let retired = state[keyPath: journal][other] { changes.append(upserted(retired)) }
            }
            record.phase = .active
            state[keyPath: journal][reference] = record
            changes.append(upserted(record))
            return .applied(changes)
        case .x509AuthorityTainted, .jwtAuthorityTainted:
            guard record.phase == .old, !record.tainted, !record.revoked else { return refused }
            record.tainted = true
        case .x509AuthorityRevoked, .jwtAuthorityRevoked:
            guard record.tainted, !record.revoked else { return refused }
            record.revoked = true
        default:
            preconditionFailure("\(kind) is not an authority transition")
        }
        state[keyPath: journal][reference] = record
        changes.append(upserted(record))
        changes.append(bumpBundle(in: &state))
        return .applied(changes)
    }

    /// The bundle sequence moves on every change of bundle content (a key added or removed, a
    /// taint flag set), never on activation, which changes who signs but not what verifies.
    static func bumpBundle(in state: inout IdentityState) -> Change {
        state.bundleSequenceNumber += 1
        return .bundleChanged(sequenceNumber: state.bundleSequenceNumber)
    }

    static func describe(_ record: some JournalRecord) -> String {
        var text = record.phase.description
        if record.tainted { text += ", tainted" }
        if record.revoked { text += ", revoked" }
        return text
    }
}
