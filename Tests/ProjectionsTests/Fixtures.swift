import IdentityModel
import Projections
import SPIFFE

/// Values and a small driver for projection tests.
enum F {
    static func id(_ text: String) -> SPIFFEID { try! SPIFFEID(parsing: text) }
    static func selector(_ text: String) -> Selector { try! Selector(parsing: text) }
    static func selectors(_ texts: String...) -> [Selector] { texts.map(selector) }
    static func node(_ text: String) -> NodeName { try! NodeName(text) }
    static func authority(_ text: String) -> AuthorityID { try! AuthorityID(text) }
    static func entryID(_ text: String) -> RegistrationEntryID { try! RegistrationEntryID(text) }
    static func serial(_ byte: UInt8) -> CertificateSerialNumber { try! CertificateSerialNumber(bytes: [byte]) }
    static func digest(_ seed: UInt8) -> SHA256Digest { try! SHA256Digest(bytes: (0..<32).map { seed &+ UInt8($0) }) }
    static func domain(_ name: String) -> TrustDomain { try! TrustDomain(name) }

    /// 2026-01-01T00:00:00Z.
    static let t0 = Timestamp(millisecondsSinceEpoch: 1_767_225_600_000)
    static func at(_ seconds: Int64) -> Timestamp { t0.advanced(by: .seconds(seconds)) }

    static let server = id("spiffe://example.org/spire/server")
    static func agentID(_ name: String) -> SPIFFEID { id("spiffe://example.org/spire/agent/x509pop/\(name)") }

    static func entry(
        _ entryID: String, spiffeID: String, parent: SPIFFEID, selectors: [Selector], revision: Int64 = 0
    ) -> RegistrationEntry {
        RegistrationEntry(
            id: self.entryID(entryID), spiffeID: id(spiffeID), parentID: parent, selectors: selectors,
            revisionNumber: revision, createdAt: t0)
    }

    static func reference(_ server: String, _ authorityID: String) -> AuthorityReference {
        AuthorityReference(serverNodeName: node(server), authorityID: authority(authorityID))
    }

    static func x509(_ server: String, _ authorityID: String, notAfter: Timestamp = at(86_400)) -> X509AuthorityDescriptor {
        X509AuthorityDescriptor(
            reference: reference(server, authorityID), certificateDER: Array(("cert-" + authorityID).utf8), notAfter: notAfter)
    }

    static func jwt(_ server: String, _ authorityID: String, notAfter: Timestamp = at(86_400)) -> JWTAuthorityDescriptor {
        JWTAuthorityDescriptor(
            reference: reference(server, authorityID), publicKeyDER: Array(("key-" + authorityID).utf8), notAfter: notAfter)
    }

    static func attested(_ agent: SPIFFEID, selectors: [Selector], serial: UInt8 = 1, canReattest: Bool = true) -> Event {
        .agentAttested(
            .init(
                agentID: agent, attestationType: canReattest ? "x509pop" : "join_token", selectors: selectors,
                serialNumber: self.serial(serial), notAfter: at(3600), canReattest: canReattest))
    }
}

/// Applies events at consecutive indexes and keeps the log for replays.
struct Harness {
    var state = IdentityState()
    var log: [(EventEnvelope, LogIndex)] = []
    var now = F.t0

    @discardableResult
    mutating func apply(_ event: Event, at time: Timestamp? = nil) -> ApplyOutcome {
        let envelope = EventEnvelope(
            issuedAt: time ?? now, actor: .localAdmin(uid: 0),
            requestID: RequestID(high: 0, low: UInt64(log.count + 1)), event: event)
        let index = state.appliedIndex.next
        log.append((envelope, index))
        return Projector.apply(envelope, at: index, to: &state)
    }

    /// Applies `event`, which must be accepted, and returns its changes.
    @discardableResult
    mutating func must(_ event: Event, at time: Timestamp? = nil) -> [Change] {
        let outcome = apply(event, at: time)
        guard case .applied(let changes) = outcome else {
            preconditionFailure("expected \(event.kind) to apply, got \(outcome)")
        }
        return changes
    }

    /// Folds the same log into a fresh state.
    func replay() -> IdentityState {
        var state = IdentityState()
        for (envelope, index) in log { _ = Projector.apply(envelope, at: index, to: &state) }
        return state
    }
}
