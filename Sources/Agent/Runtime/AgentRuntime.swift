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
        /// How DNS names among `servers` become addresses to fail over between.
        public var resolver = ServerResolver.system
        /// When to move to the next server and how long to wait (`FailoverPolicy`).
        public var failover = FailoverPolicy.Settings()

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
                servers: config.serverAddresses.isEmpty
                    ? try ServerEndpoint.parse(config.serverAddress, defaultPort: config.serverPort)
                    : config.serverAddresses.map(ServerEndpoint.init),
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
    }

    /// The addresses to fail over between (the configured servers, names resolved) and the
    /// policy choosing among them.
    private struct Servers {
        var endpoints: [ServerEndpoint]
        var policy: FailoverPolicy
        var resolved = false
        /// Members that accepted the current agent SVID (or issued it): they have applied its
        /// attestation or renewal, so a refusal from them is about something later (evict, ban).
        var acceptedBy: Set<ServerEndpoint> = []
        /// Members that refused the current agent SVID (or the attestation under way).
        var refusedBy: Set<ServerEndpoint> = []

        /// Records a refusal by the member in use; true when it is final (see `refusalIsFinal`).
        mutating func refusedByCurrent() -> Bool {
            let server = endpoints[policy.current]
            if acceptedBy.contains(server) { return true }
            refusedBy.insert(server)
            return Set(endpoints).isSubset(of: refusedBy)
        }

        mutating func newIdentity(issuedBy server: ServerEndpoint?) {
            acceptedBy = server.map { [$0] } ?? []
            refusedBy = []
        }
    }

    enum EpochOutcome: Sendable {
        case renewed(X509SVID)
        case refused(String)
        /// The server failed (unreachable, Unavailable, the stream ended, behind the agent):
        /// move to the next one.
        case switchServer(String)
    }

    public let configuration: Configuration
    public let cache: SVIDCache
    public let endpoint: WorkloadEndpointServer
    /// Synced and listening: a workload that connects now is served. (`cache.isReady` alone
    /// comes a moment before the socket is bound.)
    public var isServingWorkloads: Bool { cache.isReady && endpoint.isServing }
    public let trust: ServerTrust
    let store: AgentSVIDStore
    let attestor: (any NodeAttestor)?
    let logger: AgentLogger
    private let session = Mutex(Session())
    private let servers: Mutex<Servers>
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
        // A random first server spreads a fleet of agents over the members.
        let start = Int.random(in: 0..<configuration.servers.count)
        self.servers = Mutex(
            Servers(
                endpoints: configuration.servers,
                policy: FailoverPolicy(count: configuration.servers.count, start: start, settings: configuration.failover)))
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
                let issuer = await currentServer()
                servers.withLock { $0.newIdentity(issuedBy: issuer) }
            case .switchServer(let reason):
                try await serverFailed(reason)
            case .refused(let reason):
                if !refusalIsFinal() {
                    logger.warn(
                        "A server refused the agent SVID before any member confirmed it; it may not have applied the "
                            + "attestation or renewal yet: trying another server", [("error", reason)])
                    try await serverFailed("refused the agent SVID: \(reason)")
                    continue
                }
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
        servers.withLock { $0.newIdentity(issuedBy: nil) }
        while true {
            try Task.checkCancellation()
            let server = await currentServer()
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
                servers.withLock { $0.newIdentity(issuedBy: server) }
                serverSucceeded()
                logger.info(
                    "Node attestation was successful",
                    [("spiffe_id", id.string), ("server", server.description), ("reattestable", "\(attested.reattestable)"),
                     ("expires_at", Self.timestamp(attested.svid.expiresAt))])
                if !attested.reattestable, configuration.keyManager == .memory {
                    logger.warn(
                        "Node attestation is not reattestable and KeyManager \"memory\" is in use: after a restart the agent "
                            + "cannot obtain a new SVID without a new join token; use KeyManager \"disk\" to keep the key")
                }
                return
            } catch let error as RPCError where Self.isTransient(error) {
                try await serverFailed("attestation failed: \(error)")
            } catch let error as AgentRunError {
                throw error
            } catch let error as CancellationError {
                throw error
            } catch let error where error.isIdentityRefusal && !refusalIsFinal() {
                // A member that has not applied the token (or the agent's eviction) yet refuses
                // what another accepts: a refusal counts once every member said it.
                logger.warn("A server refused attestation; trying another server", [("server", server.description), ("error", "\(error)")])
                try await serverFailed("attestation refused: \(error)")
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
        let server = await currentServer()
        // HTTP/2 keepalive notices a member that vanished without closing the connection (a
        // host lost, a partition), which would otherwise hold the sync stream silently for as
        // long as TCP does. The ping interval stays above grpc-swift servers' default minimum
        // (5 minutes while a stream is open): pinging faster gets the connection closed.
        var config = HTTP2ClientTransport.Posix.Config.defaults
        config.connection.keepalive = .init(time: Limits.serverKeepaliveInterval, timeout: .seconds(20), allowWithoutCalls: false)
        let transport = try HTTP2ClientTransport.Posix(
            target: server.target,
            transportSecurity: try trust.transportSecurity(clientSVID: svid, insecure: false, logger: logger),
            config: config)
        return try await withGRPCClient(transport: transport) { client in
            let api = ServerAPI(client: client, callTimeout: configuration.callTimeout)
            cache.setMinter(api)
            defer { cache.setMinter(nil) }
            return try await withThrowingTaskGroup(of: EpochOutcome.self) { group in
                group.addTask { try await self.syncLoop(api, server: server) }
                group.addTask { try await self.mintLoop(api) }
                group.addTask { try await self.renewLoop(api, svid: svid) }
                defer { group.cancelAll() }
                guard let outcome = try await group.next() else { throw CancellationError() }
                return outcome
            }
        }
    }

    /// Follows WatchAuthorizedEntries from the last applied revision. Revisions are log indexes,
    /// the same on every member, so the stream resumes on any server; a server whose state is
    /// older than the agent's (a follower that has not applied what the agent already saw) is
    /// refused by `SyncedState` (`revisionWentBack`) — the agent keeps serving what it has and
    /// moves on rather than serving older state as newer. A stream that fails or ends moves to
    /// the next server too; a malformed message is retried on the same server with backoff.
    func syncLoop(_ api: ServerAPI, server: ServerEndpoint) async throws -> EpochOutcome {
        var backoff = Backoff()
        while true {
            try Task.checkCancellation()
            let before = cache.revision
            let applied = Atomic<Int>(0)
            do {
                try await api.watchAuthorizedEntries(from: before) { message in
                    let change = try self.cache.apply(message)
                    if applied.wrappingAdd(1, ordering: .relaxed).newValue == 1 {
                        self.serverSucceeded()
                        self.logger.info(
                            "Synced with server",
                            [("server", server.description), ("revision", "\(message.revision)"), ("from_revision", "\(before)"),
                             ("entries", "\(self.cache.entryCount)")])
                    }
                    self.afterSync(change, revision: message.revision, snapshot: message.fullSnapshot)
                }
                return .switchServer("the server ended the sync stream")
            } catch let error where error.isIdentityRefusal {
                return .refused("\(error)")
            } catch let error as SyncError where error.code == .revisionWentBack {
                return .switchServer("the server is behind the agent (\(error)); keeping revision \(cache.revision)")
            } catch let error as SyncError {
                if Task.isCancelled { throw CancellationError() }
                logger.warn("Sync message refused", [("error", "\(error)"), ("revision", "\(cache.revision)")])
                if applied.load(ordering: .relaxed) > 0 { backoff.reset() }
                if backoff.failures >= 3 { return .switchServer("three sync messages in a row were refused: \(error)") }
                try await Task.sleep(for: backoff.nextDelay())
            } catch {
                if Task.isCancelled { throw CancellationError() }
                return .switchServer("sync stream failed: \(error)")
            }
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
                var unavailable: String?
                for (entry, result) in zip(due, results) {
                    switch result {
                    case .minted(let svid):
                        minted.append((entry, svid))
                    case .refused(let code, let message):
                        failed += 1
                        if code == RPCError.Code.unavailable.rawValue { unavailable = message }
                        logger.warn(
                            "The server did not issue an X509-SVID", [("entry_id", entry.id), ("code", "\(code)"), ("error", message)])
                    }
                }
                cache.store(minted)
                logger.info("Minted X509-SVIDs", [("count", "\(minted.count)"), ("failed", "\(failed)")])
                if cache.hasSynced { cache.markReady() }
                if !minted.isEmpty { serverSucceeded() }
                if failed == 0 {
                    backoff.reset()
                    continue
                }
                // Unavailable for an entry means this server cannot sign now (no leader to log
                // the signing through): another member may.
                if let unavailable, minted.isEmpty { return .switchServer("the server cannot sign: \(unavailable)") }
            } catch let error where error.isIdentityRefusal {
                return .refused("\(error)")
            } catch let error as RPCError where Self.isTransient(error) {
                if Task.isCancelled { throw CancellationError() }
                return .switchServer("BatchNewX509SVID failed: \(error)")
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
            } catch let error as RPCError where Self.isTransient(error) {
                if Task.isCancelled { throw CancellationError() }
                return .switchServer("agent SVID renewal failed: \(error)")
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warn("Agent SVID renewal failed; retrying", [("error", "\(error)")])
            }
            try await Task.sleep(for: backoff.nextDelay())
        }
    }

    // MARK: - Servers

    /// The server to talk to; resolves the configured names the first time.
    private func currentServer() async -> ServerEndpoint {
        if !servers.withLock({ $0.resolved }) { await resolveServers() }
        return servers.withLock { $0.endpoints[$0.policy.current] }
    }

    /// The server in use answered as it should (synced, minted, attested): it knows the agent SVID.
    private func serverSucceeded() {
        let now = ContinuousClock.now
        servers.withLock { servers in
            servers.policy.succeeded(at: now)
            servers.acceptedBy.insert(servers.endpoints[servers.policy.current])
        }
    }

    /// Whether a refusal (PermissionDenied/Unauthenticated) by the server in use is the cluster's
    /// word: members apply the log at their own pace, so one that has not applied the agent's
    /// attestation or renewal yet refuses an SVID another accepts. A refusal is final when it
    /// comes from a member that accepted this SVID before (it is about a later event: evict,
    /// ban), or once every member refused; with one server, at once — SPIRE's rule.
    private func refusalIsFinal() -> Bool {
        servers.withLock { $0.refusedByCurrent() }
    }

    /// The server in use failed: log it, wait as the policy says, and move to the next one
    /// (re-resolving names after a round in which every address failed).
    private func serverFailed(_ reason: String) async throws {
        let now = ContinuousClock.now
        let (from, move, to, count) = servers.withLock { servers in
            let from = servers.endpoints[servers.policy.current]
            var generator = SystemRandomNumberGenerator()
            let move = servers.policy.failed(at: now, using: &generator)
            return (from, move, servers.endpoints[move.index], servers.endpoints.count)
        }
        let message =
            count == 1 ? "Server failed; retrying after a backoff"
            : move.roundFailed ? "Every server failed; retrying after a backoff" : "Server failed; moving to the next one"
        logger.warn(
            message, [("server", from.description), ("error", reason), ("next_server", to.description), ("retry_in", "\(move.delay)")])
        try await Task.sleep(for: move.delay)
        if move.roundFailed && configuration.servers.contains(where: { !$0.isIPLiteral }) { await resolveServers() }
        let next = servers.withLock { $0.endpoints[$0.policy.current] }
        if next != from { logger.info("Switching to server", [("server", next.description), ("previous", from.description)]) }
    }

    /// Expands DNS names into their addresses. The list may change size: the policy restarts at
    /// a random address of the new list (its failure counts carry over).
    private func resolveServers() async {
        let resolution = await configuration.resolver.resolve(configuration.servers)
        for (name, error) in resolution.failures.sorted(by: { $0.key < $1.key }) {
            logger.warn("Cannot resolve a server name; dialling it through the transport", [("name", name), ("error", error)])
        }
        let changed = servers.withLock { servers -> Bool in
            servers.resolved = true
            guard resolution.endpoints != servers.endpoints else { return false }
            let current = servers.endpoints[servers.policy.current]
            servers.endpoints = resolution.endpoints
            let start = resolution.endpoints.firstIndex(of: current) ?? Int.random(in: 0..<resolution.endpoints.count)
            servers.policy.replaceAddresses(count: resolution.endpoints.count, start: start)
            return true
        }
        if changed {
            logger.info("Servers", [("addresses", resolution.endpoints.map(\.description).joined(separator: ","))])
        }
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
