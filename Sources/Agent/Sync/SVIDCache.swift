import Foundation
import SPIFFE
import Synchronization
import Wire

/// Mints JWT-SVIDs on the server for the cache (the runtime's current server connection).
public protocol JWTSVIDMinter: Sendable {
    func newJWTSVID(entryID: String, audience: [String]) async throws -> MintedJWTSVID
}

/// The agent's synced cache: authorized entries and bundles from sync, the X509-SVIDs minted for
/// them, and JWT-SVIDs minted on demand. It is the `WorkloadIdentityProvider` the Workload API
/// and SDS serve from (SPIRE's `manager/cache`).
///
/// State changes go through `apply` (sync), `store` (minted SVIDs) and `markReady`; each one
/// that changes what a workload could see signals subscribers.
public final class SVIDCache: WorkloadIdentityProvider {
    struct JWTKey: Hashable {
        let entryID: String
        let audience: [String]
    }

    struct State {
        var synced: SyncedState
        var agentID: SPIFFEID?
        var held: [String: HeldSVID] = [:]
        var jwt: [JWTKey: MintedJWTSVID] = [:]
        /// Used as the own bundle until sync delivers one (the bootstrap bundle).
        var fallbackBundle: X509Bundle
        /// True once a sync message was applied.
        var hasSynced = false
        var ready = false
        var readyWaiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    public let trustDomain: TrustDomain
    private let state: Mutex<State>
    private let broadcaster = IdentityChangeBroadcaster()
    private let minter = Mutex<(any JWTSVIDMinter)?>(nil)
    private let now: @Sendable () -> Date

    public init(trustDomain: TrustDomain, bootstrapBundle: X509Bundle? = nil, now: @escaping @Sendable () -> Date = { Date() }) {
        self.trustDomain = trustDomain
        self.state = Mutex(
            State(
                synced: SyncedState(trustDomain: trustDomain),
                fallbackBundle: bootstrapBundle ?? X509Bundle(trustDomain: trustDomain)))
        self.now = now
    }

    // MARK: - Fed by the runtime

    /// The agent's own SPIFFE ID: entries parented to it (or its aliases) are workload entries.
    public func setAgentID(_ id: SPIFFEID) {
        state.withLock { $0.agentID = id }
        broadcaster.publish()
    }

    /// The bundle served until sync delivers one, when it was downloaded after start
    /// (`trust_bundle_url`).
    public func setBootstrapBundle(_ bundle: X509Bundle) {
        precondition(bundle.trustDomain == trustDomain)
        state.withLock { $0.fallbackBundle = bundle }
    }

    public func setMinter(_ minter: (any JWTSVIDMinter)?) {
        self.minter.withLock { $0 = minter }
    }

    public var revision: UInt64 { state.withLock { $0.synced.revision } }
    public var hasSynced: Bool { state.withLock { $0.hasSynced } }
    public var syncedBundle: SPIFFEBundle? { state.withLock { $0.synced.bundle } }
    public var entryCount: Int { state.withLock { $0.synced.entries.count } }
    public var heldSVIDCount: Int { state.withLock { $0.held.count } }

    /// Applies one sync message. SVIDs and JWT-SVIDs of removed entries are dropped at once; a
    /// changed entry keeps its SVID until the new one is stored (no gap for the workload).
    @discardableResult
    public func apply(_ message: Lineage_Api_V1_WatchAuthorizedEntriesResponse) throws(SyncError) -> SyncedState.Change {
        let change = try state.withLock { (state) throws(SyncError) -> SyncedState.Change in
            let change = try state.synced.apply(message)
            state.hasSynced = true
            for id in change.removed { state.held.removeValue(forKey: id) }
            if !change.removed.isEmpty {
                let removed = Set(change.removed)
                state.jwt = state.jwt.filter { !removed.contains($0.key.entryID) }
            }
            return change
        }
        if !change.isEmpty { broadcaster.publish() }
        return change
    }

    /// The workload entries (parented to the agent or an alias) and what to mint now.
    public func mintPlan(limit: Int = Limits.svidBatchMax) -> (due: [AuthorizedEntry], nextRotation: Date?) {
        let at = now()
        return state.withLock { state in
            guard let agentID = state.agentID else { return ([], nil) }
            let entries = state.synced.workloadEntries(agentID: agentID)
            let dueIDs = Set(MintPlan.entriesToMint(entries: entries, held: state.held, now: at, limit: limit))
            return (entries.filter { dueIDs.contains($0.id) }, MintPlan.nextRotation(entries: entries, held: state.held))
        }
    }

    /// Stores SVIDs minted for `entries` (as they were when the request was made). An SVID whose
    /// entry was removed or changed since is discarded: the next plan asks again.
    public func store(_ minted: [(entry: AuthorizedEntry, svid: X509SVID)]) {
        guard !minted.isEmpty else { return }
        let changed = state.withLock { state in
            var changed = false
            for (entry, svid) in minted where state.synced.entries[entry.id]?.mintingFields == entry.mintingFields {
                guard svid.id == entry.spiffeID else { continue }
                state.held[entry.id] = HeldSVID(svid: svid, mintedFor: entry)
                changed = true
            }
            return changed
        }
        if changed { broadcaster.publish() }
    }

    /// Marks the cache as having served its first complete sync + mint round.
    public func markReady() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.ready else { return [] }
            state.ready = true
            defer { state.readyWaiters = [:] }
            return Array(state.readyWaiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public var isReady: Bool { state.withLock { $0.ready } }

    /// Returns once `markReady` was called (SPIRE's agent serves workloads only after its first
    /// sync), or when the task is cancelled. Waiters are bounded by the callers (the runtime and
    /// tests), not by network input.
    public func waitUntilReady() async {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.ready || Task.isCancelled { return true }
                    state.readyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.readyWaiters.removeValue(forKey: id) }?.resume()
        }
    }

    // MARK: - WorkloadIdentityProvider

    public func identities(for selectors: Set<WorkloadSelector>) -> WorkloadIdentities {
        let at = now()
        return state.withLock { state in
            var identities: [WorkloadIdentity] = []
            if let agentID = state.agentID {
                for entry in state.synced.workloadEntries(agentID: agentID)
                where entry.selectors.isSubset(of: selectors) {
                    // An expired SVID is never served: the workload would only fail with it.
                    guard let held = state.held[entry.id], held.svid.expiresAt > at else { continue }
                    identities.append(
                        WorkloadIdentity(
                            entryID: entry.id, svid: held.svid, hint: entry.hint,
                            federatesWith: entry.federatesWith))
                }
            }
            let own = state.synced.bundle
            let x509Bundle = own?.x509Bundle ?? state.fallbackBundle
            let jwtBundle = own?.jwtBundle ?? JWTBundle(trustDomain: trustDomain)
            return WorkloadIdentities(
                identities: identities, x509Bundle: x509Bundle, jwtBundle: jwtBundle,
                federatedBundles: state.synced.federatedBundles)
        }
    }

    public func changes() throws(IdentityProviderError) -> IdentityChanges {
        try broadcaster.subscribe()
    }

    /// A cached JWT-SVID for (entry, audience) until its half-life, else a new one from the
    /// server (SPIRE's agent JWT cache).
    public func jwtSVID(entryID: String, spiffeID: SPIFFEID, audience: [String]) async throws(IdentityProviderError) -> String {
        let key = JWTKey(entryID: entryID, audience: audience.sorted())
        let at = now()
        let (entry, cached) = state.withLock { state in
            (state.synced.entries[entryID], state.jwt[key])
        }
        guard let entry, entry.spiffeID == spiffeID else {
            throw IdentityProviderError(.notEntitled, "no entry \(entryID) for \(spiffeID)")
        }
        if let cached, !SVIDRotation.isDue(notBefore: cached.issuedAt, notAfter: cached.expiresAt, now: at) {
            return cached.token
        }
        guard let minter = minter.withLock({ $0 }) else {
            throw IdentityProviderError(.unavailable, "the agent is not connected to the server")
        }
        let minted: MintedJWTSVID
        do {
            minted = try await minter.newJWTSVID(entryID: entryID, audience: audience)
        } catch {
            throw IdentityProviderError(.unavailable, "could not mint a JWT-SVID: \(error)")
        }
        state.withLock { state in
            guard state.synced.entries[entryID] != nil else { return }
            if state.jwt[key] == nil && state.jwt.count >= Limits.jwtSVIDCacheMax {
                // Make room: expired tokens first, else the one expiring soonest.
                state.jwt = state.jwt.filter { $0.value.expiresAt > at }
                if state.jwt.count >= Limits.jwtSVIDCacheMax,
                    let soonest = state.jwt.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key
                {
                    state.jwt.removeValue(forKey: soonest)
                }
            }
            state.jwt[key] = minted
        }
        return minted.token
    }

    public var jwtCacheCount: Int { state.withLock { $0.jwt.count } }
}
