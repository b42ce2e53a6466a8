import Foundation
import SPIFFE
import SwiftASN1
import Wire
import X509

/// A registration entry the server authorized this agent to serve, as the sync stream delivers
/// it (`spire.api.types.Entry`), parsed once so the cache never handles raw wire values.
public struct AuthorizedEntry: Hashable, Sendable {
    public let id: String
    public let spiffeID: SPIFFEID
    public let parentID: SPIFFEID
    /// The selectors a workload must all have (non-empty for workload entries).
    public let selectors: Set<WorkloadSelector>
    public let dnsNames: [String]
    public let federatesWith: Set<TrustDomain>
    public let hint: String
    /// The entry's own counter (SPIRE's `revision_number`); a change means the entry changed.
    public let revisionNumber: Int64
    /// Requested X509-SVID lifetime in seconds; 0 means the server's default.
    public let x509SVIDTTLSeconds: Int32
    public let jwtSVIDTTLSeconds: Int32

    public init(
        id: String, spiffeID: SPIFFEID, parentID: SPIFFEID, selectors: Set<WorkloadSelector>,
        dnsNames: [String] = [], federatesWith: Set<TrustDomain> = [], hint: String = "",
        revisionNumber: Int64 = 0, x509SVIDTTLSeconds: Int32 = 0, jwtSVIDTTLSeconds: Int32 = 0
    ) {
        self.id = id
        self.spiffeID = spiffeID
        self.parentID = parentID
        self.selectors = selectors
        self.dnsNames = dnsNames
        self.federatesWith = federatesWith
        self.hint = hint
        self.revisionNumber = revisionNumber
        self.x509SVIDTTLSeconds = x509SVIDTTLSeconds
        self.jwtSVIDTTLSeconds = jwtSVIDTTLSeconds
    }

    /// Parses a wire entry; a malformed one is refused with a reason naming the entry.
    public init(_ entry: Spire_Api_Types_Entry) throws(SyncError) {
        guard !entry.id.isEmpty else { throw SyncError(.malformedEntry, "an entry has no ID") }
        let spiffeID: SPIFFEID
        let parentID: SPIFFEID
        do {
            spiffeID = try SPIFFEID(entry.spiffeID)
            parentID = try SPIFFEID(entry.parentID)
        } catch {
            throw SyncError(.malformedEntry, "entry \(entry.id): \(error)")
        }
        var selectors = Set<WorkloadSelector>()
        for selector in entry.selectors {
            guard !selector.type.isEmpty, !selector.value.isEmpty else {
                throw SyncError(.malformedEntry, "entry \(entry.id): empty selector type or value")
            }
            selectors.insert(WorkloadSelector(type: selector.type, value: selector.value))
        }
        var federatesWith = Set<TrustDomain>()
        for name in entry.federatesWith {
            do {
                federatesWith.insert(try TrustDomain(parsing: name))
            } catch {
                throw SyncError(.malformedEntry, "entry \(entry.id): federates_with \(name): \(error)")
            }
        }
        self.init(
            id: entry.id, spiffeID: spiffeID, parentID: parentID, selectors: selectors, dnsNames: entry.dnsNames,
            federatesWith: federatesWith, hint: entry.hint, revisionNumber: entry.revisionNumber,
            x509SVIDTTLSeconds: entry.x509SvidTtl, jwtSVIDTTLSeconds: entry.jwtSvidTtl)
    }

    /// The fields an X509-SVID is minted from: when any of them changes, the SVID held for the
    /// entry no longer matches it and a new one is requested (selectors and hints do not count).
    var mintingFields: MintingFields {
        MintingFields(
            spiffeID: spiffeID, dnsNames: dnsNames, revisionNumber: revisionNumber,
            x509SVIDTTLSeconds: x509SVIDTTLSeconds)
    }

    struct MintingFields: Hashable, Sendable {
        let spiffeID: SPIFFEID
        let dnsNames: [String]
        let revisionNumber: Int64
        let x509SVIDTTLSeconds: Int32
    }
}

extension SPIFFEID {
    /// `spire.api.types.SPIFFEID` {trust_domain, path} → a checked ID. SPIRE sends the bare
    /// trust domain name; a `spiffe://` prefix is tolerated.
    public init(_ wire: Spire_Api_Types_SPIFFEID) throws(SPIFFEIDError) {
        let trustDomain = try TrustDomain(parsing: wire.trustDomain)
        try self.init(trustDomain: trustDomain, path: wire.path)
    }

    public var wire: Spire_Api_Types_SPIFFEID {
        var wire = Spire_Api_Types_SPIFFEID()
        wire.trustDomain = trustDomain.name
        wire.path = path
        return wire
    }
}

extension SPIFFEBundle {
    /// `spire.api.types.Bundle` → a SPIFFE bundle: X.509 authorities are DER certificates, JWT
    /// authorities PKIX DER public keys with their key IDs. Tainted authorities stay in the
    /// bundle, as in SPIRE (they are still trusted until removed).
    public init(wire bundle: Spire_Api_Types_Bundle) throws(SyncError) {
        let trustDomain: TrustDomain
        do {
            trustDomain = try TrustDomain(parsing: bundle.trustDomain)
        } catch {
            throw SyncError(.malformedBundle, "bundle trust domain \(bundle.trustDomain): \(error)")
        }
        var certificates: [Certificate] = []
        for (index, authority) in bundle.x509Authorities.enumerated() {
            do {
                certificates.append(try Certificate(derEncoded: Array(authority.asn1)))
            } catch {
                throw SyncError(.malformedBundle, "bundle \(trustDomain): X.509 authority \(index): \(error)")
            }
        }
        var keys: [String: Certificate.PublicKey] = [:]
        for authority in bundle.jwtAuthorities {
            guard !authority.keyID.isEmpty else {
                throw SyncError(.malformedBundle, "bundle \(trustDomain): a JWT authority has no key ID")
            }
            do {
                keys[authority.keyID] = try Certificate.PublicKey(derEncoded: Array(authority.publicKey))
            } catch {
                throw SyncError(.malformedBundle, "bundle \(trustDomain): JWT authority \(authority.keyID): \(error)")
            }
        }
        do {
            try self.init(
                trustDomain: trustDomain, x509Authorities: certificates, jwtAuthorities: keys,
                sequenceNumber: bundle.sequenceNumber,
                refreshHintSeconds: bundle.refreshHint == 0 ? nil : bundle.refreshHint)
        } catch {
            throw SyncError(.malformedBundle, "bundle \(trustDomain): \(error)")
        }
    }
}

/// Why a sync message or a server answer could not be used.
public struct SyncError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case malformedEntry
        case malformedBundle
        case malformedSVID
        case tooLarge
        case revisionWentBack
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code.rawValue): \(reason)" }

    /// Equal by code only (as swift-certificates' `CertificateError`), so tests match kinds.
    public static func == (lhs: SyncError, rhs: SyncError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
