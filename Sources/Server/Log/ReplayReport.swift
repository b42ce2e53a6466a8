import Foundation
import IdentityModel
import Projections
import SPIFFE

/// The text `lineage-server log replay` prints: the registration entries, agents and trust
/// bundle of a replayed state, in SPIRE's `entry show` / `agent show` layout where one exists.
public enum ReplayReport {
    public static func text(_ result: LogReplay.Result) -> String {
        let state = result.state
        var lines: [String] = []
        lines.append("Replayed through log index \(result.throughIndex): \(result.appliedEvents) events applied, \(result.rejectedEvents) rejected")
        lines.append("")
        lines.append("Found \(state.entries.count) \(state.entries.count == 1 ? "entry" : "entries")")
        for entry in state.entries.values.sorted(by: { $0.id < $1.id }) {
            lines.append("Entry ID         : \(entry.id)")
            lines.append("SPIFFE ID        : \(entry.spiffeID)")
            lines.append("Parent ID        : \(entry.parentID)")
            lines.append("Revision         : \(entry.revisionNumber)")
            if entry.downstream { lines.append("Downstream       : true") }
            lines.append("X509-SVID TTL    : \(ttl(entry.x509SVIDTTLSeconds))")
            lines.append("JWT-SVID TTL     : \(ttl(entry.jwtSVIDTTLSeconds))")
            if let expiresAt = entry.expiresAt { lines.append("Expiration time  : \(LogHistory.rfc3339(expiresAt))") }
            for selector in entry.selectors { lines.append("Selector         : \(selector)") }
            for domain in entry.federatesWith { lines.append("FederatesWith    : \(domain)") }
            for name in entry.dnsNames { lines.append("DNS name         : \(name)") }
            if entry.admin { lines.append("Admin            : true") }
            if !entry.hint.isEmpty { lines.append("Hint             : \(entry.hint)") }
            lines.append("")
        }
        lines.append("Found \(state.agents.count) attested \(state.agents.count == 1 ? "agent" : "agents")")
        for agent in state.agents.values.sorted(by: { $0.spiffeID.description < $1.spiffeID.description }) {
            lines.append("SPIFFE ID         : \(agent.spiffeID)")
            lines.append("Attestation type  : \(agent.attestationType)")
            lines.append("Expiration time   : \(LogHistory.rfc3339(agent.notAfter))")
            lines.append("Serial number     : \(agent.serialNumber)")
            lines.append("Can re-attest     : \(agent.canReattest)")
            if agent.banned { lines.append("Banned            : true") }
            for selector in agent.selectors { lines.append("Selector          : \(selector)") }
            lines.append("")
        }
        let bundle = state.ownBundle
        lines.append("Bundle sequence \(bundle.sequenceNumber): \(bundle.x509Authorities.count) X.509 and \(bundle.jwtAuthorities.count) JWT authorities")
        for authority in bundle.x509Authorities {
            lines.append("X.509 authority \(authority.reference)\(authority.tainted ? " (tainted)" : "")")
            lines.append(pem(authority.certificateDER))
        }
        for authority in bundle.jwtAuthorities {
            lines.append("JWT authority \(authority.reference) expires \(LogHistory.rfc3339(authority.expiresAt))\(authority.tainted ? " (tainted)" : "")")
        }
        for federated in state.federatedBundles.keys.sorted(by: { $0.name < $1.name }) {
            lines.append("Federated bundle: \(federated)")
        }
        return lines.joined(separator: "\n")
    }

    static func ttl(_ seconds: Int32) -> String { seconds == 0 ? "default" : "\(seconds)" }

    static func pem(_ der: [UInt8]) -> String {
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN CERTIFICATE-----\n\(base64)\n-----END CERTIFICATE-----"
    }
}
