import IdentityModel
import SPIFFE

/// Agents: SPIRE's attested-node rules (TOFU, ban until evict, pending serial activation).
extension Projector {
    static func attestAgent(_ event: AgentAttested, in state: inout IdentityState) -> ApplyOutcome {
        if let existing = state.agents[event.agentID] {
            if existing.banned { return .rejected(.agentBanned(event.agentID)) }
            // A trust-on-first-use attestor vouches for a node once; a second attestation with
            // the same ID is a clone or a replay (SPIRE: "already attested").
            if !event.canReattest { return .rejected(.agentAlreadyAttested(event.agentID)) }
        } else if state.agents.count >= Limits.agentsMax {
            return .rejected(.limitReached("agentsMax"))
        }
        let record = AgentRecord(
            spiffeID: event.agentID, attestationType: event.attestationType, selectors: event.selectors,
            serialNumber: event.serialNumber, notAfter: event.notAfter, canReattest: event.canReattest)
        state.agents[event.agentID] = record
        return .applied([.agentUpserted(record)])
    }

    static func renewAgent(_ event: AgentRenewed, in state: inout IdentityState) -> ApplyOutcome {
        guard var record = state.agents[event.agentID] else { return .rejected(.agentNotFound(event.agentID)) }
        if record.banned { return .rejected(.agentBanned(event.agentID)) }
        record.pendingSerialNumber = event.serialNumber
        record.pendingNotAfter = event.notAfter
        state.agents[event.agentID] = record
        return .applied([.agentUpserted(record)])
    }

    static func activateRenewal(_ event: AgentRenewalActivated, in state: inout IdentityState) -> ApplyOutcome {
        guard var record = state.agents[event.agentID] else { return .rejected(.agentNotFound(event.agentID)) }
        if record.banned { return .rejected(.agentBanned(event.agentID)) }
        guard record.pendingSerialNumber == event.serialNumber, let notAfter = record.pendingNotAfter else {
            return .rejected(.serialNotPending(event.agentID))
        }
        record.serialNumber = event.serialNumber
        record.notAfter = notAfter
        record.pendingSerialNumber = nil
        record.pendingNotAfter = nil
        state.agents[event.agentID] = record
        return .applied([.agentUpserted(record)])
    }

    static func banAgent(_ agentID: SPIFFEID, in state: inout IdentityState) -> ApplyOutcome {
        guard var record = state.agents[agentID] else { return .rejected(.agentNotFound(agentID)) }
        if record.banned { return .rejected(.agentBanned(agentID)) }
        record.banned = true
        // A pending renewal must not become usable later.
        record.pendingSerialNumber = nil
        record.pendingNotAfter = nil
        state.agents[agentID] = record
        return .applied([.agentUpserted(record)])
    }

    static func evictAgent(_ agentID: SPIFFEID, in state: inout IdentityState) -> ApplyOutcome {
        guard let record = state.agents.removeValue(forKey: agentID) else {
            return .rejected(.agentNotFound(agentID))
        }
        return .applied([.agentRemoved(record)])
    }
}
