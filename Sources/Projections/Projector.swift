import IdentityModel
import SPIFFE

/// Folds log entries into an `IdentityState`.
///
/// `apply` is pure and deterministic: the same envelopes at the same indexes give the same
/// state and the same outcomes on every replica. Time comes only from `envelope.issuedAt`
/// (stamped by the leader); nothing here reads a clock, draws randomness or iterates a
/// dictionary in an order that leaks into the result.
///
/// The checks that decide a `Rejection` are the authoritative ones. The leader validates
/// commands before proposing, but two proposals can pass that check concurrently; only what
/// `apply` decides, in log order, is binding.
public enum Projector {
    /// Applies the event at `index`. A rejected event changes nothing but `appliedIndex`.
    public static func apply(
        _ envelope: EventEnvelope, at index: LogIndex, to state: inout IdentityState
    ) -> ApplyOutcome {
        precondition(index > state.appliedIndex, "log index \(index) is not after \(state.appliedIndex)")
        let outcome = fold(envelope, into: &state)
        state.appliedIndex = index
        return outcome
    }

    /// Passes over the entry at `index` without folding it: the runtime recognised it as a second
    /// copy of a request already applied (its request table is replicated state too, so every
    /// replica skips the same entries). Only `appliedIndex` moves.
    public static func skip(at index: LogIndex, in state: inout IdentityState) {
        precondition(index > state.appliedIndex, "log index \(index) is not after \(state.appliedIndex)")
        state.appliedIndex = index
    }

    /// Dispatches by event kind. Each handler checks everything first and mutates only when the
    /// event will apply, so a rejection leaves the state untouched.
    static func fold(_ envelope: EventEnvelope, into state: inout IdentityState) -> ApplyOutcome {
        let now = envelope.issuedAt
        switch envelope.event {
        case .registrationEntryCreated(let event): return createEntry(event.entry, in: &state)
        case .registrationEntryUpdated(let event): return updateEntry(event.entry, in: &state)
        case .registrationEntryDeleted(let event):
            return deleteEntry(event.entryID, revisionNumber: event.revisionNumber, in: &state)

        case .joinTokenCreated(let event): return createJoinToken(event.token, now: now, in: &state)
        case .joinTokenConsumed(let event):
            return consumeJoinToken(event.tokenSHA256, agentID: event.agentID, now: now, in: &state)

        case .agentAttested(let event): return attestAgent(event, in: &state)
        case .agentRenewed(let event): return renewAgent(event, in: &state)
        case .agentRenewalActivated(let event): return activateRenewal(event, in: &state)
        case .agentBanned(let event): return banAgent(event.agentID, in: &state)
        case .agentEvicted(let event): return evictAgent(event.agentID, in: &state)

        // Issuance is recorded for audit only; it changes no served view.
        case .x509SVIDIssued, .jwtSVIDIssued: return .applied([])

        case .x509AuthorityPrepared(let event): return prepareX509(event.authority, now: now, in: &state)
        case .x509AuthorityActivated(let event):
            return transitionX509(event.authority, .x509AuthorityActivated, in: &state)
        case .x509AuthorityTainted(let event):
            return transitionX509(event.authority, .x509AuthorityTainted, in: &state)
        case .x509AuthorityRevoked(let event):
            return transitionX509(event.authority, .x509AuthorityRevoked, in: &state)
        case .jwtAuthorityPrepared(let event): return prepareJWT(event.authority, now: now, in: &state)
        case .jwtAuthorityActivated(let event):
            return transitionJWT(event.authority, .jwtAuthorityActivated, in: &state)
        case .jwtAuthorityTainted(let event):
            return transitionJWT(event.authority, .jwtAuthorityTainted, in: &state)
        case .jwtAuthorityRevoked(let event):
            return transitionJWT(event.authority, .jwtAuthorityRevoked, in: &state)

        case .federatedBundleSet(let event): return setFederatedBundle(event.bundle, in: &state)
        case .federatedBundleDeleted(let event): return deleteFederatedBundle(event.trustDomain, in: &state)

        case .clusterMemberAdded(let event):
            return addClusterMember(ClusterMember(nodeName: event.nodeName, address: event.address), in: &state)
        case .clusterMemberRemoved(let event): return removeClusterMember(event.nodeName, in: &state)
        }
    }

    // MARK: - Federation and cluster

    static func setFederatedBundle(_ bundle: FederatedBundle, in state: inout IdentityState) -> ApplyOutcome {
        if state.federatedBundles[bundle.trustDomain] == nil,
            state.federatedBundles.count >= Limits.federatedBundlesMax
        {
            return .rejected(.limitReached("federatedBundlesMax"))
        }
        state.federatedBundles[bundle.trustDomain] = bundle
        return .applied([.federatedBundleUpserted(bundle)])
    }

    static func deleteFederatedBundle(_ domain: TrustDomain, in state: inout IdentityState) -> ApplyOutcome {
        guard state.federatedBundles.removeValue(forKey: domain) != nil else {
            return .rejected(.federatedBundleNotFound(domain))
        }
        return .applied([.federatedBundleDeleted(domain)])
    }

    static func addClusterMember(_ member: ClusterMember, in state: inout IdentityState) -> ApplyOutcome {
        if state.clusterMembers[member.nodeName] != nil { return .rejected(.clusterMemberExists(member.nodeName)) }
        if state.clusterMembers.count >= Limits.clusterMembersMax { return .rejected(.limitReached("clusterMembersMax")) }
        state.clusterMembers[member.nodeName] = member
        return .applied([.clusterMemberUpserted(member)])
    }

    static func removeClusterMember(_ name: NodeName, in state: inout IdentityState) -> ApplyOutcome {
        guard state.clusterMembers.removeValue(forKey: name) != nil else {
            return .rejected(.clusterMemberNotFound(name))
        }
        return .applied([.clusterMemberRemoved(name)])
    }
}
