import Foundation
import IdentityModel
import Logging
import SPIFFE

/// The log line a committed decision earns: every decision is an event first, so the server's
/// operational log is a view of what it committed, with the caller and the log index. Routine
/// high-volume decisions (SVIDs, agent renewals) are debug; changes to who may get what are info.
/// Selectors and join tokens are never written (SPIRE 1.14.3 stopped logging selectors).
enum DecisionLog {
    struct Line {
        let level: Logger.Level
        let message: String
        let metadata: Logger.Metadata
    }

    /// Cheap, so a caller can skip building a line its logger would drop (SVID signings are
    /// DEBUG and on the signing path).
    static func level(for event: Event) -> Logger.Level {
        switch event {
        case .x509SVIDIssued, .jwtSVIDIssued, .agentRenewed, .agentRenewalActivated: .debug
        case .x509AuthorityTainted, .x509AuthorityRevoked, .jwtAuthorityTainted, .jwtAuthorityRevoked: .warning
        default: .info
        }
    }

    static func line(for event: Event, by actor: Actor, index: UInt64) -> Line {
        var metadata: Logger.Metadata = ["caller": "\(actor)", "log_index": "\(index)"]
        func line(_ message: String, _ fields: [String: String]) -> Line {
            for (key, value) in fields { metadata[key] = "\(value)" }
            return Line(level: level(for: event), message: message, metadata: metadata)
        }
        switch event {
        case .registrationEntryCreated(let event):
            return line("Registration entry created", entryFields(event.entry))
        case .registrationEntryUpdated(let event):
            return line("Registration entry updated", entryFields(event.entry))
        case .registrationEntryDeleted(let event):
            return line("Registration entry deleted", ["entry_id": event.entryID.rawValue])
        case .joinTokenCreated(let event):
            return line("Join token created", ["expires_at": time(event.token.expiresAt)])
        case .joinTokenConsumed(let event):
            return line("Join token consumed", ["agent_id": event.agentID.string])
        case .agentAttested(let event):
            return line("Agent attested", [
                "agent_id": event.agentID.string, "attestation_type": event.attestationType,
                "serial": event.serialNumber.description, "can_reattest": "\(event.canReattest)",
            ])
        case .agentRenewed(let event):
            return line("Agent SVID renewed", ["agent_id": event.agentID.string, "serial": event.serialNumber.description])
        case .agentRenewalActivated(let event):
            return line("Agent renewed SVID in use", ["agent_id": event.agentID.string, "serial": event.serialNumber.description])
        case .agentBanned(let event):
            return line("Agent banned", ["agent_id": event.agentID.string])
        case .agentEvicted(let event):
            return line("Agent evicted", ["agent_id": event.agentID.string])
        case .x509SVIDIssued(let event):
            var fields = ["spiffe_id": event.spiffeID.string, "serial": event.serialNumber.description,
                          "authority_id": event.issuer.authorityID.rawValue, "expires_at": time(event.notAfter)]
            if let entry = event.entryID { fields["entry_id"] = entry.rawValue }
            return line("Signed X509 SVID", fields)
        case .jwtSVIDIssued(let event):
            var fields = ["spiffe_id": event.spiffeID.string, "audience": event.audience.joined(separator: ","),
                          "authority_id": event.issuer.authorityID.rawValue, "expires_at": time(event.expiresAt)]
            if let entry = event.entryID { fields["entry_id"] = entry.rawValue }
            return line("Signed JWT SVID", fields)
        case .x509AuthorityPrepared(let event):
            var fields = ["authority_id": event.authority.reference.authorityID.rawValue, "expires_at": time(event.authority.notAfter)]
            if let upstream = event.authority.upstreamAuthorityID { fields["upstream_authority_id"] = upstream.rawValue }
            return line("X509 CA prepared", fields)
        case .x509AuthorityActivated(let event):
            return line("X509 CA activated", ["authority_id": event.authority.authorityID.rawValue])
        case .x509AuthorityTainted(let event):
            return line("X509 CA tainted", ["authority_id": event.authority.authorityID.rawValue])
        case .x509AuthorityRevoked(let event):
            return line("X509 CA revoked", ["authority_id": event.authority.authorityID.rawValue])
        case .jwtAuthorityPrepared(let event):
            return line("JWT key prepared", [
                "authority_id": event.authority.reference.authorityID.rawValue, "expires_at": time(event.authority.notAfter),
            ])
        case .jwtAuthorityActivated(let event):
            return line("JWT key activated", ["authority_id": event.authority.authorityID.rawValue])
        case .jwtAuthorityTainted(let event):
            return line("JWT key tainted", ["authority_id": event.authority.authorityID.rawValue])
        case .jwtAuthorityRevoked(let event):
            return line("JWT key revoked", ["authority_id": event.authority.authorityID.rawValue])
        case .federatedBundleSet(let event):
            return line("Federated bundle set", ["trust_domain": event.bundle.trustDomain.name])
        case .federatedBundleDeleted(let event):
            return line("Federated bundle deleted", ["trust_domain": event.trustDomain.name])
        case .clusterMemberAdded(let event):
            return line("Cluster member added", ["node_name": event.nodeName.rawValue, "address": event.address])
        case .clusterMemberRemoved(let event):
            return line("Cluster member removed", ["node_name": event.nodeName.rawValue])
        }
    }

    private static func time(_ timestamp: Timestamp) -> String { timestamp.date.formatted(.iso8601) }

    private static func entryFields(_ entry: RegistrationEntry) -> [String: String] {
        ["entry_id": entry.id.rawValue, "spiffe_id": entry.spiffeID.string, "parent_id": entry.parentID.string]
    }
}
