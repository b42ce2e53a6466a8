import Foundation
import SPIFFE
import Synchronization

/// An in-memory `WorkloadIdentityProvider` whose state is set by its owner: tests, and the
/// quickstart until the agent's SVID cache exists. Every `update` signals subscribers.
public final class StaticIdentityProvider: WorkloadIdentityProvider {
    /// A registration entry with its current SVID.
    public struct Entry: Hashable, Sendable {
        public var entryID: String
        /// The selectors a workload must all have for this entry to match (non-empty).
        public var selectors: Set<WorkloadSelector>
        public var svid: X509SVID
        public var hint: String
        public var federatesWith: Set<TrustDomain>

        public init(
            entryID: String, selectors: Set<WorkloadSelector>, svid: X509SVID, hint: String = "",
            federatesWith: Set<TrustDomain> = []
        ) {
            self.entryID = entryID
            self.selectors = selectors
            self.svid = svid
            self.hint = hint
            self.federatesWith = federatesWith
        }
    }

    /// A JWT signing key and its `kid`; its public key belongs in `State.jwtBundle`.
    public struct JWTAuthority: Sendable {
        public var keyID: String
        public var key: JWTSigningKey

        public init(keyID: String, key: JWTSigningKey) {
            self.keyID = keyID
            self.key = key
        }
    }

    public struct State: Sendable {
        public var entries: [Entry]
        public var x509Bundle: X509Bundle
        public var jwtBundle: JWTBundle
        public var federatedBundles: [TrustDomain: SPIFFEBundle]
        /// Signs JWT-SVIDs; nil means FetchJWTSVID is Unavailable.
        public var jwtAuthority: JWTAuthority?
        public var jwtTimeToLive: TimeInterval

        public init(
            entries: [Entry] = [], x509Bundle: X509Bundle, jwtBundle: JWTBundle,
            federatedBundles: [TrustDomain: SPIFFEBundle] = [:], jwtAuthority: JWTAuthority? = nil,
            jwtTimeToLive: TimeInterval = 300
        ) {
            self.entries = entries
            self.x509Bundle = x509Bundle
            self.jwtBundle = jwtBundle
            self.federatedBundles = federatedBundles
            self.jwtAuthority = jwtAuthority
            self.jwtTimeToLive = jwtTimeToLive
        }
    }

    private let state: Mutex<State>
    private let broadcaster = IdentityChangeBroadcaster()
    private let now: @Sendable () -> Date

    public init(_ state: State, now: @escaping @Sendable () -> Date = { Date() }) {
        self.state = Mutex(state)
        self.now = now
    }

    /// Changes the state and signals every subscriber.
    public func update(_ body: (inout State) -> Void) {
        state.withLock { body(&$0) }
        broadcaster.publish()
    }

    public var subscriberCount: Int { broadcaster.subscriberCount }

    public func identities(for selectors: Set<WorkloadSelector>) -> WorkloadIdentities {
        state.withLock { state in
            let matching = state.entries.filter { !$0.selectors.isEmpty && $0.selectors.isSubset(of: selectors) }
            return WorkloadIdentities(
                identities: matching.map {
                    WorkloadIdentity(entryID: $0.entryID, svid: $0.svid, hint: $0.hint, federatesWith: $0.federatesWith)
                },
                x509Bundle: state.x509Bundle, jwtBundle: state.jwtBundle, federatedBundles: state.federatedBundles)
        }
    }

    public func changes() throws(IdentityProviderError) -> IdentityChanges {
        try broadcaster.subscribe()
    }

    public func jwtSVID(entryID: String, spiffeID: SPIFFEID, audience: [String]) async throws(IdentityProviderError) -> String {
        let (entry, authority, ttl) = state.withLock { state in
            (state.entries.first { $0.entryID == entryID }, state.jwtAuthority, state.jwtTimeToLive)
        }
        guard let entry, entry.svid.id == spiffeID else {
            throw IdentityProviderError(.notEntitled, "no entry \(entryID) for \(spiffeID)")
        }
        guard let authority else {
            throw IdentityProviderError(.unavailable, "no JWT authority to sign with")
        }
        let issuedAt = now()
        do {
            return try JWTSVID.sign(
                subject: spiffeID, audience: audience, expiresAt: issuedAt + ttl, issuedAt: issuedAt,
                keyID: authority.keyID, signer: authority.key
            ).token
        } catch {
            throw IdentityProviderError(.unavailable, "could not mint a JWT-SVID: \(error)")
        }
    }
}
