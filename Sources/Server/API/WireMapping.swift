import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import SwiftASN1
import SwiftProtobuf
import Wire
import X509

/// A refusal with a gRPC code and a message that says what was wrong and where — the form
/// SPIRE's API gives per-item results (`spire.api.types.Status`) and whole-call errors.
public struct APIError: Error, CustomStringConvertible {
    public let code: RPCError.Code
    public let message: String

    public init(_ code: RPCError.Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
    var rpcError: RPCError { RPCError(code: code, message: message) }

    var status: Spire_Api_Types_Status {
        var status = Spire_Api_Types_Status()
        status.code = Int32(code.rawValue)
        status.message = message
        return status
    }

    static var ok: Spire_Api_Types_Status {
        var status = Spire_Api_Types_Status()
        status.message = "OK"
        return status
    }

    /// The code for an error that came from below an API handler.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError: return error
        case let rejected as IdentityLog.Rejected: return APIError.from(rejected.rejection)
        case let error as IdentityLog.Unavailable: return APIError(.unavailable, error.description)
        case let error as LogDriver<ProjectionApplier>.ProposalError: return APIError(error.rpcError.code, error.rpcError.message)
        case let error as RPCError: return APIError(error.code, error.message)
        default: return APIError(.internalError, "\(error)")
        }
    }

    static func from(_ rejection: Rejection) -> APIError {
        let code: RPCError.Code = switch rejection.category {
        case .alreadyExists: .alreadyExists
        case .notFound: .notFound
        case .limitReached: .resourceExhausted
        case .failedPrecondition: .failedPrecondition
        }
        return APIError(code, "\(rejection)")
    }
}

enum WireMapping {
    // MARK: - SPIFFE IDs

    static func wire(_ id: SPIFFEID) -> Spire_Api_Types_SPIFFEID {
        var wire = Spire_Api_Types_SPIFFEID()
        wire.trustDomain = id.trustDomain.name
        wire.path = id.path
        return wire
    }

    /// SPIRE's rule: trust domain and path as given, parsed as one ID; `field` names it in errors.
    static func spiffeID(_ wire: Spire_Api_Types_SPIFFEID, field: String) throws(APIError) -> SPIFFEID {
        guard !wire.trustDomain.isEmpty else { throw APIError(.invalidArgument, "invalid \(field): trust domain is missing") }
        do {
            return try SPIFFEID(parsing: SPIFFEID.schemePrefix + wire.trustDomain + wire.path)
        } catch {
            throw APIError(.invalidArgument, "invalid \(field): \(error)")
        }
    }

    // MARK: - Entries

    static func wire(_ entry: RegistrationEntry) -> Spire_Api_Types_Entry {
        var wire = Spire_Api_Types_Entry()
        wire.id = entry.id.rawValue
        wire.spiffeID = Self.wire(entry.spiffeID)
        wire.parentID = Self.wire(entry.parentID)
        wire.selectors = entry.selectors.map(Self.wire)
        wire.x509SvidTtl = entry.x509SVIDTTLSeconds
        wire.jwtSvidTtl = entry.jwtSVIDTTLSeconds
        wire.federatesWith = entry.federatesWith.map(\.name)
        wire.admin = entry.admin
        wire.downstream = entry.downstream
        wire.expiresAt = entry.expiresAt.map { $0.millisecondsSinceEpoch / 1000 } ?? 0
        wire.dnsNames = entry.dnsNames
        wire.revisionNumber = entry.revisionNumber
        wire.hint = entry.hint
        wire.createdAt = entry.createdAt.millisecondsSinceEpoch / 1000
        return wire
    }

    static func wire(_ selector: Selector) -> Spire_Api_Types_Selector {
        var wire = Spire_Api_Types_Selector()
        wire.type = selector.type
        wire.value = selector.value
        return wire
    }

    static func selector(_ wire: Spire_Api_Types_Selector) throws(APIError) -> Selector {
        guard !wire.type.isEmpty else { throw APIError(.invalidArgument, "invalid selector: missing selector type") }
        guard !wire.value.isEmpty else { throw APIError(.invalidArgument, "invalid selector: missing selector value") }
        do {
            return try Selector(type: wire.type, value: wire.value)
        } catch {
            throw APIError(.invalidArgument, "invalid selector \(wire.type):\(wire.value): \(error)")
        }
    }

    /// A registration entry from the API, checked as SPIRE checks it: IDs in this trust domain,
    /// a workload ID outside `/spire/`, at least one selector, non-negative TTLs.
    static func entry(
        _ wire: Spire_Api_Types_Entry, id: RegistrationEntryID, trustDomain: TrustDomain,
        revision: Int64, createdAt: Timestamp
    ) throws(APIError) -> RegistrationEntry {
        guard wire.hasSpiffeID else { throw APIError(.invalidArgument, "invalid spiffe ID: request must specify SPIFFE ID") }
        guard wire.hasParentID else { throw APIError(.invalidArgument, "invalid parent ID: request must specify SPIFFE ID") }
        let spiffeID = try Self.spiffeID(wire.spiffeID, field: "spiffe ID")
        let parentID = try Self.spiffeID(wire.parentID, field: "parent ID")
        guard spiffeID.trustDomain == trustDomain else {
            throw APIError(.invalidArgument, "invalid spiffe ID: \"\(spiffeID)\" is not a member of trust domain \"\(trustDomain)\"")
        }
        guard parentID.trustDomain == trustDomain else {
            throw APIError(.invalidArgument, "invalid parent ID: \"\(parentID)\" is not a member of trust domain \"\(trustDomain)\"")
        }
        guard !spiffeID.isInReservedSPIRENamespace else {
            throw APIError(.invalidArgument, "invalid spiffe ID: \"\(spiffeID.path)\" is a reserved ID path: workload IDs may not be under /spire/")
        }
        guard !wire.selectors.isEmpty else { throw APIError(.invalidArgument, "invalid entry: selector list is empty") }
        guard wire.x509SvidTtl >= 0 else { throw APIError(.invalidArgument, "invalid entry: X509SvidTtl is not allowed to be negative") }
        guard wire.jwtSvidTtl >= 0 else { throw APIError(.invalidArgument, "invalid entry: JwtSvidTtl is not allowed to be negative") }
        var selectors: [Selector] = []
        for selector in wire.selectors { selectors.append(try Self.selector(selector)) }
        var federatesWith: [TrustDomain] = []
        for name in wire.federatesWith {
            do {
                federatesWith.append(try TrustDomain(parsing: name))
            } catch {
                throw APIError(.invalidArgument, "invalid federates with \"\(name)\": \(error)")
            }
        }
        let entry = RegistrationEntry(
            id: id, spiffeID: spiffeID, parentID: parentID, selectors: selectors,
            x509SVIDTTLSeconds: wire.x509SvidTtl, jwtSVIDTTLSeconds: wire.jwtSvidTtl, federatesWith: federatesWith,
            admin: wire.admin, downstream: wire.downstream,
            expiresAt: wire.expiresAt > 0 ? Timestamp(secondsSinceEpoch: wire.expiresAt) : nil,
            dnsNames: wire.dnsNames, revisionNumber: revision, hint: wire.hint, createdAt: createdAt)
        do {
            try entry.validate()
        } catch {
            throw APIError(.invalidArgument, "invalid entry: \(error)")
        }
        return entry
    }

    // MARK: - Agents

    static func wire(_ agent: AgentRecord) -> Spire_Api_Types_Agent {
        var wire = Spire_Api_Types_Agent()
        wire.id = Self.wire(agent.spiffeID)
        wire.attestationType = agent.attestationType
        wire.x509SvidSerialNumber = serialText(agent.serialNumber)
        wire.x509SvidExpiresAt = agent.notAfter.millisecondsSinceEpoch / 1000
        wire.selectors = agent.selectors.map(Self.wire)
        wire.banned = agent.banned
        wire.canReattest = agent.canReattest
        return wire
    }

    /// SPIRE prints serial numbers in decimal (Go's big.Int String()).
    static func serialText(_ serial: CertificateSerialNumber) -> String {
        var digits: [UInt8] = [0]
        for byte in serial.bytes {
            var carry = Int(byte)
            for index in digits.indices {
                let value = Int(digits[index]) * 256 + carry
                digits[index] = UInt8(value % 10)
                carry = value / 10
            }
            while carry > 0 {
                digits.append(UInt8(carry % 10))
                carry /= 10
            }
        }
        return String(digits.reversed().map { Character(String($0)) })
    }

    // MARK: - Bundles

    static func wire(_ bundle: TrustBundleView, trustDomain: TrustDomain) -> Spire_Api_Types_Bundle {
        var wire = Spire_Api_Types_Bundle()
        wire.trustDomain = trustDomain.name
        wire.sequenceNumber = bundle.sequenceNumber
        wire.x509Authorities = bundle.x509Authorities.map { authority in
            var certificate = Spire_Api_Types_X509Certificate()
            certificate.asn1 = Data(authority.certificateDER)
            certificate.tainted = authority.tainted
            return certificate
        }
        wire.jwtAuthorities = bundle.jwtAuthorities.map { authority in
            var key = Spire_Api_Types_JWTKey()
            key.publicKey = Data(authority.publicKeyDER)
            key.keyID = authority.reference.authorityID.rawValue
            key.expiresAt = authority.expiresAt.millisecondsSinceEpoch / 1000
            key.tainted = authority.tainted
            return key
        }
        return wire
    }

    static func wire(_ bundle: FederatedBundle) -> Spire_Api_Types_Bundle {
        var wire = Spire_Api_Types_Bundle()
        wire.trustDomain = bundle.trustDomain.name
        wire.sequenceNumber = bundle.sequenceNumber
        wire.refreshHint = bundle.refreshHintSeconds
        wire.x509Authorities = bundle.x509AuthoritiesDER.map { der in
            var certificate = Spire_Api_Types_X509Certificate()
            certificate.asn1 = Data(der)
            return certificate
        }
        wire.jwtAuthorities = bundle.jwtAuthorities.map { authority in
            var key = Spire_Api_Types_JWTKey()
            key.publicKey = Data(authority.publicKeyDER)
            key.keyID = authority.keyID.rawValue
            key.expiresAt = authority.expiresAt.map { $0.millisecondsSinceEpoch / 1000 } ?? 0
            return key
        }
        return wire
    }

    static func federatedBundle(_ wire: Spire_Api_Types_Bundle) throws(APIError) -> FederatedBundle {
        let domain: TrustDomain
        do {
            domain = try TrustDomain(parsing: wire.trustDomain)
        } catch {
            throw APIError(.invalidArgument, "invalid trust domain \"\(wire.trustDomain)\": \(error)")
        }
        var keys: [JWTKey] = []
        for key in wire.jwtAuthorities {
            do {
                keys.append(JWTKey(
                    keyID: try AuthorityID(key.keyID), publicKeyDER: Array(key.publicKey),
                    expiresAt: key.expiresAt > 0 ? Timestamp(secondsSinceEpoch: key.expiresAt) : nil))
            } catch {
                throw APIError(.invalidArgument, "invalid JWT authority \"\(key.keyID)\": \(error)")
            }
        }
        // The certificates must parse: the log keeps exactly the bytes accepted here.
        for (index, authority) in wire.x509Authorities.enumerated() {
            do {
                _ = try X509.Certificate(derEncoded: Array(authority.asn1))
            } catch {
                throw APIError(.invalidArgument, "invalid X.509 authority \(index) of \(domain): \(error)")
            }
        }
        return FederatedBundle(
            trustDomain: domain, x509AuthoritiesDER: wire.x509Authorities.map { Array($0.asn1) },
            jwtAuthorities: keys, refreshHintSeconds: wire.refreshHint, sequenceNumber: wire.sequenceNumber)
    }
}
