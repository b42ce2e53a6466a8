import GRPCCore
import SPIFFE

/// What the Workload API and SDS handlers need from the agent, and nothing more (SPIRE's
/// `Manager` seen from `pkg/agent/endpoints/workload/handler.go`; STYLE.md "Do this" 4).
///
/// The agent's SVID cache implements it; `StaticIdentityProvider` is an in-memory one.
///
/// Contract:
/// - `identities(for:)` answers from current state without waiting. An entry matches a workload
///   when the entry's selectors are a non-empty **subset** of the workload's selectors (SPIRE's
///   rule); matching belongs to the provider. The answer always carries the bundles, even when no
///   identity matches (ValidateJWTSVID needs them).
/// - `changes()` is a bounded, newest-only signal: every change to the provider's state after the
///   subscription was made is eventually followed by at least one element; elements carry no
///   data, so a subscriber re-reads `identities(for:)`. Subscribe **before** the first read so no
///   change falls between the two.
/// - `jwtSVID(…)` mints (or returns a cached) JWT-SVID for one of the identities it returned.
public protocol WorkloadIdentityProvider: Sendable {
    func identities(for selectors: Set<WorkloadSelector>) -> WorkloadIdentities
    func changes() throws(IdentityProviderError) -> IdentityChanges
    func jwtSVID(entryID: String, spiffeID: SPIFFEID, audience: [String]) async throws(IdentityProviderError) -> String
}

/// One X.509 identity a workload is entitled to: a registration entry and its current SVID.
public struct WorkloadIdentity: Hashable, Sendable {
    public let entryID: String
    /// The SVID: chain leaf first, with its private key.
    public let svid: X509SVID
    /// The entry's hint; empty when it has none. Hints are unique within a response (§1.4).
    public let hint: String
    /// Trust domains whose bundles this workload receives as federated bundles.
    public let federatesWith: Set<TrustDomain>

    public init(entryID: String, svid: X509SVID, hint: String = "", federatesWith: Set<TrustDomain> = []) {
        self.entryID = entryID
        self.svid = svid
        self.hint = hint
        self.federatesWith = federatesWith
    }

    public var spiffeID: SPIFFEID { svid.id }
}

/// A workload's view of the agent's state at one moment.
public struct WorkloadIdentities: Hashable, Sendable {
    /// Matching identities, sorted by entry ID; the first is the default identity.
    public let identities: [WorkloadIdentity]
    /// The agent's own trust domain's X.509 authorities.
    public let x509Bundle: X509Bundle
    /// The agent's own trust domain's JWT authorities.
    public let jwtBundle: JWTBundle
    /// Bundles of other trust domains the agent knows. Handlers hand a workload only those its
    /// identities federate with.
    public let federatedBundles: [TrustDomain: SPIFFEBundle]

    public init(
        identities: [WorkloadIdentity], x509Bundle: X509Bundle, jwtBundle: JWTBundle,
        federatedBundles: [TrustDomain: SPIFFEBundle] = [:]
    ) {
        precondition(x509Bundle.trustDomain == jwtBundle.trustDomain, "own X.509 and JWT bundles must share a trust domain")
        precondition(federatedBundles[x509Bundle.trustDomain] == nil, "the own trust domain cannot be federated")
        self.identities = identities.sorted { $0.entryID < $1.entryID }
        self.x509Bundle = x509Bundle
        self.jwtBundle = jwtBundle
        self.federatedBundles = federatedBundles
    }

    public var trustDomain: TrustDomain { x509Bundle.trustDomain }

    /// The identities to serve: sorted by entry ID, keeping only the first identity for each
    /// non-empty hint (a hint MUST be unique within a response, SPIFFE-WIRE §1.4; SPIRE keeps the
    /// oldest entry, then the lower entry ID — entry ID order here).
    public var servedIdentities: [WorkloadIdentity] {
        var seenHints = Set<String>()
        return identities.filter { identity in
            identity.hint.isEmpty || seenHints.insert(identity.hint).inserted
        }
    }

    /// Federated bundles the served identities federate with, sorted by trust domain.
    public var relevantFederatedBundles: [SPIFFEBundle] {
        let wanted = servedIdentities.reduce(into: Set<TrustDomain>()) { $0.formUnion($1.federatesWith) }
        return wanted.sorted().compactMap { federatedBundles[$0] }
    }
}

/// A provider failure, mapped to the gRPC status a workload sees.
public struct IdentityProviderError: Error, Hashable, Sendable, RPCErrorConvertible, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The provider cannot serve now (JWT minting failed, agent shutting down): Unavailable.
        case unavailable
        /// Too many subscribers or streams: ResourceExhausted.
        case exhausted
        /// The identity asked for is not one the workload has: PermissionDenied.
        case notEntitled
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }

    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .unavailable: .unavailable
        case .exhausted: .resourceExhausted
        case .notEntitled: .permissionDenied
        }
    }

    public var rpcErrorMessage: String { reason }
}
