import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import Synchronization
import Wire
import X509

/// `lineage-agent run`: node attestation, the agent SVID and its renewal, the sync stream, the
/// workload SVID cache and its rotation, and the workload endpoint serving from that cache.
///
/// Shape of `run()`:
/// 1. Identity: reuse the agent SVID stored under `data_dir` if it is still valid, else attest
///    (TLS without client certificate, the server authenticated by the bootstrap bundle).
/// 2. Epochs: one mTLS client per agent SVID. In an epoch three loops run together — sync
///    (WatchAuthorizedEntries, reconnecting with backoff from the last revision), mint
///    (BatchNewX509SVID for new, changed and half-life entries) and renew (RenewAgent at the
///    agent SVID's half-life). A renewal ends the epoch and the next one uses the new SVID. A
///    refusal of the agent SVID (PermissionDenied/Unauthenticated) ends it too: the agent
///    attests again if it can, else removes the SVID and stops with an error (SPIRE's rule).
/// 3. The workload endpoint starts once the cache has synced and minted once.
///
/// `beginGracefulShutdown()` (or cancelling `run()`) stops everything; open workload streams
/// end with Unavailable and the socket is removed.
public final class AgentRuntime: Sendable {
    public struct Configuration: Sendable {
        public var trustDomain: TrustDomain
        public var servers: [ServerEndpoint]
        public var dataDir: String
        /// `trust_bundle_path`'s authorities; nil with `trust_bundle_url` or `insecure_bootstrap`.
        public var bootstrapBundle: X509Bundle?
        /// `trust_bundle_url`: fetched at start when no bundle is stored under `data_dir`.
        public var bootstrapBundleDownload: BootstrapBundleSource?
        public var insecureBootstrap: Bool
        public var joinToken: String?
        /// Where the agent SVID's key lives: `disk` survives a restart, `memory` does not.
        public var keyManager: AgentConfig.KeyManager
        public var endpoint: WorkloadEndpointServer.Configuration
        /// Bound on each unary call to the server.
        public var callTimeout: Duration = .seconds(30)
        /// A stored agent SVID closer than this to expiry is not reused.
        public var reuseMargin: TimeInterval = 30

        /// `keyManager` nil keeps the key on disk beside the SVID, in `dataDir`.
        public init(
            trustDomain: TrustDomain, servers: [ServerEndpoint], dataDir: String, bootstrapBundle: X509Bundle?,
            insecureBootstrap: Bool, joinToken: String?, keyManager: AgentConfig.KeyManager? = nil,
            endpoint: WorkloadEndpointServer.Configuration
        ) {
            self.trustDomain = trustDomain
            self.servers = servers
            self.dataDir = dataDir
            self.bootstrapBundle = bootstrapBundle
            self.insecureBootstrap = insecureBootstrap
            self.joinToken = joinToken
            self.keyManager = keyManager ?? .disk(directory: dataDir)
            self.endpoint = endpoint
        }

        /// From a parsed configuration file (flags already applied as overrides).
        public init(_ config: AgentConfig) throws {
            var bundle: X509Bundle?
            var download: BootstrapBundleSource?
            if let path = config.trustBundlePath {
                let bytes: [UInt8]
                do {
                    bytes = try AgentSVIDStore.readBytes(path, bytesMax: Limits.bootstrapBundleBytesMax)
                } catch {
                    throw AgentRunError("trust bundle: \(error)")
                }
                bundle = try BootstrapBundle.parse(bytes, format: config.trustBundleFormat, trustDomain: config.trustDomain, source: path)
            } else if let url = config.trustBundleURL {
                download = BootstrapBundleSource(download: try TrustBundleDownload(url: url), format: config.trustBundleFormat)
            }
            self.init(
                trustDomain: config.trustDomain,
                servers: try ServerEndpoint.parse(config.serverAddress, defaultPort: config.serverPort),
                dataDir: config.dataDir, bootstrapBundle: bundle, insecureBootstrap: config.insecureBootstrap,
                joinToken: config.joinToken, keyManager: config.keyManager,
                endpoint: WorkloadEndpointServer.Configuration(
                    socketPath: config.socketPath, sds: config.sds,
                    unixAttestor: config.unixWorkloadAttestor ?? AgentConfig.UnixWorkloadAttestor()))
            self.bootstrapBundleDownload = download
        }
    }

    /// `trust_bundle_url` with its `trust_bundle_format`.
    public struct BootstrapBundleSource: Sendable {
        public var download: TrustBundleDownload
        public var format: AgentConfig.TrustBundleFormat

        public init(download: TrustBundleDownload, format: AgentConfig.TrustBundleFormat) {
            self.download = download
            self.format = format
        }
    }

    private struct Session {
        var svid: X509SVID?
        var reattestable = false
        var serverIndex = 0
    }

    enum EpochOutcome: Sendable {
        case renewed(X509SVID)
        case refused(String)
        case switchServer
    }

    public let configuration: Configuration
    public let cache: SVIDCache
    public let endpoint: WorkloadEndpointServer
    public let trust: ServerTrust
    let store: AgentSVIDStore
    let attestor: (any NodeAttestor)?
    let logger: AgentLogger
    private let session = Mutex(Session())
    private let mintWake = WakeSignal()
    private let shutdownStream: AsyncStream<Void>
    private let shutdownContinuation: AsyncStream<Void>.Continuation

    /// `attestor` nil means the configured token (if any) is used through `JoinTokenAttestor`.
    public init(configuration: Configuration, attestor: (any NodeAttestor)? = nil, logger: AgentLogger = AgentLogger()) {
        precondition(!configuration.servers.isEmpty)
        self.configuration = configuration
        self.store = AgentSVIDStore(directory: configuration.dataDir, keyManager: configuration.keyManager)
        self.logger = logger
        self.attestor = attestor ?? configuration.joinToken.map { JoinTokenAttestor(token: $0) }
        // A bundle stored by an earlier run is newer than the bootstrap one (SPIRE prefers it).
        var initialBundle = configuration.bootstrapBundle
        do {
            if let stored = try store.loadBundle(trustDomain: configuration.trustDomain) { initialBundle = stored }
        } catch {
            logger.warn("Ignoring the stored bundle", [("error", error.description)])
        }
        self.trust = ServerTrust(trustDomain: configuration.trustDomain, bundle: initialBundle)
        self.cache = SVIDCache(trustDomain: configuration.trustDomain, bootstrapBundle: initialBundle)
        self.endpoint = WorkloadEndpointServer(configuration: configuration.endpoint, provider: cache)
        (shutdownStream, shutdownContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The agent SVID in use (nil before attestation).
    public var agentSVID: X509SVID? { session.withLock { $0.svid } }

    public func beginGracefulShutdown() {
        shutdownContinuation.yield()
        shutdownContinuation.finish()
    }

    public func run() async throws {
        logger.info(
            "Starting agent",
            [("trust_domain", configuration.trustDomain.name), ("server", configuration.servers.map(\.description).joined(separator: ",")),
             ("data_dir", configuration.dataDir), ("socket_path", configuration.endpoint.socketPath)])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.runSession() }
            group.addTask {
                await self.cache.waitUntilReady()
                try Task.checkCancellation()
                self.logger.info("Starting Workload and SDS APIs", [("path", self.configuration.endpoint.socketPath)])
                try await self.endpoint.run()
            }
            group.addTask {
                for await _ in self.shutdownStream { break }
            }
            defer { group.cancelAll() }
            // The first to finish decides: shutdown asked, the endpoint stopped, or the session
            // failed (its error propagates).
            try await group.next()
        }
        logger.info("Agent stopped")
    }

    // MARK: - Session

    func runSession() async throws {
        try await downloadBootstrapBundleIfNeeded()
        try await establishIdentity()
        while true {
            try Task.checkCancellation()
            guard let svid = agentSVID else { throw AgentRunError("no agent SVID") }
            switch try await runEpoch(svid: svid) {
            case .renewed(let renewed):
                session.withLock { $0.svid = renewed }
            case .switchServer:
                session.withLock { $0.serverIndex = ($0.serverIndex + 1) % configuration.servers.count }
            case .refused(let reason):
                let reattestable = session.withLock { $0.reattestable }
                if reattestable, attestor?.canReattest == true {
                    logger.warn("The server refused the agent SVID; attesting again", [("error", reason)])
                    try await attest(because: "the server refused the agent SVID")
                } else {
                    store.remove()
                    throw AgentRunError(
                        "the server refused the agent SVID (\(reason)); it was removed from \(configuration.dataDir) and "
                            + "the agent must attest again (a join token is single-use: generate a new one)")
                }
            }
        }
    }

    /// `trust_bundle_url`: fetched when no bundle is stored (a stored one is newer, as in SPIRE).
    /// An unreachable URL is retried for `Limits.bootstrapRetryWindow`; a wrong answer (status,
    /// redirect, size, not a bundle of this trust domain) stops the agent at once.
    func downloadBootstrapBundleIfNeeded() async throws {
        guard trust.bundle == nil, let source = configuration.bootstrapBundleDownload else { return }
        let url = source.download.url
        logger.info("Downloading the bootstrap trust bundle", [("url", url)])
        let deadline = ContinuousClock.now + Limits.bootstrapRetryWindow
        var backoff = Backoff(base: .seconds(1), cap: .seconds(10))
        while true {
            do {
                let bytes = try await source.download.fetch()
                let bundle = try BootstrapBundle.parse(bytes, format: source.format, trustDomain: configuration.trustDomain, source: url)
                trust.update(bundle)
                cache.setBootstrapBundle(bundle)
                logger.info("Bootstrap trust bundle downloaded", [("url", url), ("authorities", "\(bundle.authorities.count)")])
                return
            } catch let failure as TrustBundleDownload.Failure where failure.isTransient && ContinuousClock.now < deadline {
                let delay = backoff.nextDelay()
                logger.warn("Cannot download the bootstrap trust bundle; retrying", [("error", failure.description), ("retry_in", "\(delay)")])
                try await Task.sleep(for: delay)
            } catch let failure as TrustBundleDownload.Failure {
                throw AgentRunError("cannot download the bootstrap trust bundle: \(failure.description)")
            }
        }
    }

    /// Reuses a stored, still valid agent SVID; else attests. `attestReason` says why a new
    /// attestation is needed, for the error when it cannot happen.
    func establishIdentity() async throws {
        var attestReason = "no agent SVID is stored in \(configuration.dataDir)"
        do {
            switch try store.load() {
            case .nothing:
                break
            case .chainWithoutKey(let reason):
                attestReason = "the stored agent SVID's private key is gone (\(reason))"
                logger.warn("Agent SVID recovered, but not its private key; attesting again", [("reason", reason)])
            case .svid(let stored):
                let id = stored.svid.id
                if id.trustDomain != configuration.trustDomain || !id.isAgent {
                    attestReason = "the stored agent SVID \(id) is not an agent ID of \(configuration.trustDomain)"
                    logger.warn("Stored agent SVID is not an agent ID of this trust domain; attesting again", [("spiffe_id", id.string)])
                } else if stored.svid.expiresAt.timeIntervalSinceNow <= configuration.reuseMargin {
                    attestReason = "the stored agent SVID \(id) expired at \(Self.timestamp(stored.svid.expiresAt))"
                    logger.info("Stored agent SVID has expired; attesting again", [("spiffe_id", id.string)])
                } else {
                    session.withLock {
                        $0.svid = stored.svid
                        $0.reattestable = stored.reattestable
                    }
                    cache.setAgentID(id)
                    logger.info(
                        "Reusing the stored agent SVID",
                        [("spiffe_id", id.string), ("expires_at", Self.timestamp(stored.svid.expiresAt))])
                    return
                }
            }
        } catch let error where error.isKeyFileFault {
            throw AgentRunError(error.description)
        } catch {
            attestReason = "the stored agent SVID is unusable"
            logger.warn("Stored agent SVID is unusable; attesting again", [("error", error.description)])
            store.remove()
        }
        try await attest(because: attestReason)
    }

    /// AttestAgent over TLS without a client certificate, retried with backoff while the server
    /// is unreachable; a refusal (bad token, …) is final.
    func attest(because reason: String) async throws {
        guard let attestor else {
            throw AgentRunError(
                "the agent must attest (\(reason)) but no join token was given: generate one with "
                    + "`lineage-server token generate` and pass it with -joinToken or agent.join_token")
        }
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            let server = currentServer
            let insecure = trust.bundle == nil && configuration.insecureBootstrap
            if trust.bundle == nil && !insecure {
                throw AgentRunError("no trust bundle to authenticate the server with")
            }
            do {
                let transport = try HTTP2ClientTransport.Posix(
                    target: server.target,
                    transportSecurity: try trust.transportSecurity(clientSVID: nil, insecure: insecure, logger: logger))
                let key = SVIDRequest.newKey()
                let attested = try await withGRPCClient(transport: transport) { client in
                    try await ServerAPI(client: client, callTimeout: configuration.callTimeout).attest(using: attestor, key: key)
                }
                let id = attested.svid.id
                guard id.trustDomain == configuration.trustDomain, id.isAgent else {
                    throw AgentRunError("the server issued \(id), not an agent ID of \(configuration.trustDomain)")
                }
                try store.save(attested.svid, reattestable: attested.reattestable)
                session.withLock {
                    $0.svid = attested.svid
                    $0.reattestable = attested.reattestable
                }
                cache.setAgentID(id)
                logger.info(
                    "Node attestation was successful",
                    [("spiffe_id", id.string), ("reattestable", "\(attested.reattestable)"),
                     ("expires_at", Self.timestamp(attested.svid.expiresAt))])
                if !attested.reattestable, configuration.keyManager == .memory {
                    logger.warn(
                        "Node attestation is not reattestable and KeyManager \"memory\" is in use: after a restart the agent "
                            + "cannot obtain a new SVID without a new join token; use KeyManager \"disk\" to keep the key")
                }
                return
            } catch let error as RPCError where Self.isTransient(error) {
                let delay = backoff.nextDelay()
                logger.warn(
                    "Cannot reach the server to attest; retrying",
                    [("server", server.description), ("error", "\(error)"), ("retry_in", "\(delay)")])
                if backoff.failures % 3 == 0 { rotateServer() }
                try await Task.sleep(for: delay)
            } catch let error as AgentRunError {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch let error where error.isIdentityRefusal && !attestor.canReattest {
                throw AgentRunError(
                    "node attestation was refused (\(error)); the agent had to attest because \(reason). A \(attestor.type) "
                        + "attestation cannot be repeated: generate a new join token with `lineage-server token generate` "
                        + "and start the agent with -joinToken")
            } catch {
                throw AgentRunError("node attestation failed (the agent had to attest because \(reason)): \(error)")
            }
        }
    }

    // MARK: - Epoch

    func runEpoch(svid: X509SVID) async throws -> EpochOutcome {
        let server = currentServer
        let transport = try HTTP2ClientTransport.Posix(
            target: server.target,
            transportSecurity: try trust.transportSecurity(clientSVID: svid, insecure: false, logger: logger))
        return try await withGRPCClient(transport: transport) { client in
            let api = ServerAPI(client: client, callTimeout: configuration.callTimeout)
            cache.setMinter(api)
            defer { cache.setMinter(nil) }
            return try await withThrowingTaskGroup(of: EpochOutcome.self) { group in
                group.addTask { try await self.syncLoop(api) }
                group.addTask { try await self.mintLoop(api) }
                group.addTask { try await self.renewLoop(api, svid: svid) }
                defer { group.cancelAll() }
                guard let outcome = try await group.next() else { throw CancellationError() }
                return outcome
            }
        }
    }

    /// Follows WatchAuthorizedEntries; reconnects with backoff from the last applied revision.
    func syncLoop(_ api: ServerAPI) async throws -> EpochOutcome {
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            let before = cache.revision
            let appliedAny = Atomic<Bool>(false)
            do {
                try await api.watchAuthorizedEntries(from: before) { message in
                    let change = try self.cache.apply(message)
                    appliedAny.store(true, ordering: .relaxed)
                    self.afterSync(change, revision: message.revision, snapshot: message.fullSnapshot)
                }
                logger.info("Sync stream ended; resuming", [("revision", "\(cache.revision)")])
            } catch let error where error.isIdentityRefusal {
                return .refused("\(error)")
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warn("Sync stream failed", [("error", "\(error)"), ("revision", "\(cache.revision)")])
            }
            if appliedAny.load(ordering: .relaxed) { backoff.reset() }
            if backoff.failures >= 3 && configuration.servers.count > 1 { return .switchServer }
            try await Task.sleep(for: backoff.nextDelay())
        }
    }

    private func afterSync(_ change: SyncedState.Change, revision: UInt64, snapshot: Bool) {
        if change.bundleChanged, let bundle = cache.syncedBundle {
            let x509 = bundle.x509Bundle
            trust.update(x509)
            do {
                try store.saveBundle(x509)
            } catch {
                logger.warn("Cannot store the bundle", [("error", error.description)])
            }
            logger.info("Trust bundle updated", [("authorities", "\(x509.authorities.count)")])
        }
        if !change.isEmpty || snapshot {
            logger.debug(
                "Synced authorized entries",
                [("revision", "\(revision)"), ("snapshot", "\(snapshot)"), ("upserted", "\(change.upserted.count)"),
                 ("removed", "\(change.removed.count)"), ("entries", "\(cache.entryCount)")])
        }
        mintWake.signal()
    }

    /// Mints X509-SVIDs for workload entries that need one, in batches; sleeps until the next
    /// half-life or a sync wake-up.
    func mintLoop(_ api: ServerAPI) async throws -> EpochOutcome {
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            let (due, nextRotation) = cache.mintPlan()
            if due.isEmpty {
                if cache.hasSynced { cache.markReady() }
                let untilRotation = nextRotation.map { $0.timeIntervalSinceNow } ?? 300
                let wait = Duration.milliseconds(Int64(max(0.05, min(untilRotation, 300)) * 1_000))
                await mintWake.wait(timeout: wait)
                continue
            }
            let keys = due.map { _ in SVIDRequest.newKey() }
            do {
                let results = try await api.batchNewX509SVID(zip(due, keys).map { ($0.id, $1) })
                var minted: [(entry: AuthorizedEntry, svid: X509SVID)] = []
                var failed = 0
                for (entry, result) in zip(due, results) {
                    switch result {
                    case .minted(let svid):
                        minted.append((entry, svid))
                    case .refused(let code, let message):
                        failed += 1
                        logger.warn(
                            "The server did not issue an X509-SVID", [("entry_id", entry.id), ("code", "\(code)"), ("error", message)])
                    }
                }
                cache.store(minted)
                logger.info("Minted X509-SVIDs", [("count", "\(minted.count)"), ("failed", "\(failed)")])
                if cache.hasSynced { cache.markReady() }
                if failed == 0 {
                    backoff.reset()
                    continue
                }
            } catch let error where error.isIdentityRefusal {
                return .refused("\(error)")
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warn("BatchNewX509SVID failed", [("error", "\(error)"), ("entries", "\(due.count)")])
            }
            await mintWake.wait(timeout: backoff.nextDelay())
        }
    }

    /// Renews the agent SVID at half-life (RenewAgent), retrying with backoff.
    func renewLoop(_ api: ServerAPI, svid: X509SVID) async throws -> EpochOutcome {
        var backoff = Backoff()
        let due = SVIDRotation.renewalTime(notBefore: svid.leaf.notValidBefore, notAfter: svid.expiresAt)
        let wait = due.timeIntervalSinceNow
        if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1_000))) }
        while true {
            try Task.checkCancellation()
            do {
                let renewed = try await api.renewAgent(key: SVIDRequest.newKey())
                guard renewed.id == svid.id else {
                    throw AgentRunError("the renewed agent SVID is \(renewed.id), not \(svid.id)")
                }
                try store.save(renewed, reattestable: session.withLock { $0.reattestable })
                logger.info(
                    "Renewed the agent SVID", [("spiffe_id", renewed.id.string), ("expires_at", Self.timestamp(renewed.expiresAt))])
                return .renewed(renewed)
            } catch let error where error.isIdentityRefusal {
                return .refused("\(error)")
            } catch let error as AgentRunError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warn("Agent SVID renewal failed; retrying", [("error", "\(error)")])
            }
            try await Task.sleep(for: backoff.nextDelay())
        }
    }

    // MARK: - Helpers

    private var currentServer: ServerEndpoint {
        configuration.servers[session.withLock { $0.serverIndex } % configuration.servers.count]
    }

    private func rotateServer() {
        session.withLock { $0.serverIndex = ($0.serverIndex + 1) % configuration.servers.count }
    }

    static func isTransient(_ error: RPCError) -> Bool {
        [.unavailable, .deadlineExceeded, .aborted, .resourceExhausted, .unknown].contains(error.code)
    }

    static func timestamp(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

public struct AgentRunError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension ServerAPI: JWTSVIDMinter {}
