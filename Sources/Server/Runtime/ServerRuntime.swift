import Attestation
import Authority
import Config
import Consensus
import Crypto
import Foundation
import GRPCCore
import GRPCHealth
import GRPCNIOTransportHTTP2
import IdentityModel
import KeyStore
import Logging
import NIOCore
import NIOPosix
import PeerTracking
import Projections
import SPIFFE
import SwiftASN1
import Wire
import X509

#if canImport(Glibc)
import Glibc
#endif

/// `lineage-server run`: the identity log, the CA, and the two listeners — the admin API on a
/// Unix socket (callers identified by the kernel) and the agent API on TCP with TLS (callers
/// identified by their X509-SVIDs). Runs until cancelled, then shuts down gracefully.
public final class ServerRuntime: Sendable {
    public let config: ServerConfig
    public let log: IdentityLog
    public let ca: CAManager
    let api: ServerAPI
    /// `NodeAttestor "x509pop"`'s verifier, its CA bundle read at start-up.
    let x509pop: X509PoPVerifier?
    let health = HealthService()
    let material: TLSMaterial
    /// How often the CA schedule and the server SVID are checked.
    let maintenanceInterval: Duration
    let logger: Logger
    /// The connections to the other members; nil for a single server.
    let transport: ClusterTransport?
    /// The upstream authority's roots as loaded at start: a cluster trusts them before its log
    /// holds any bundle (the pre-shared bundle every member bootstraps with).
    let upstreamRoots: [Certificate]

    public init(config: ServerConfig, maintenanceInterval: Duration = .seconds(5), logger: Logger) throws {
        self.config = config
        self.maintenanceInterval = maintenanceInterval
        self.logger = logger
        let caBundlePaths = config.nodeAttestors.lazy.compactMap { attestor -> [String]? in
            if case .x509pop(let paths) = attestor { paths } else { nil }
        }.first
        x509pop = try caBundlePaths.map { paths throws(AttestationError) in
            var authorities: [Certificate] = []
            for path in paths {
                let pem: [UInt8]
                do throws(KeyStoreError) {
                    pem = try PrivateFiles.read(path, bytesMax: SPIFFE.Limits.encodedCertificatesBytesMax)
                } catch {
                    throw AttestationError(.unreadableFile, "ca_bundle_path \(error.message)")
                }
                authorities += try X509PoP.certificates(pem: String(decoding: pem, as: UTF8.self), source: "ca_bundle_path \(path)")
            }
            return X509PoPVerifier(trustDomain: config.trustDomain, authorities: authorities)
        }
        let nodeName = try NodeName(config.cluster?.nodeName ?? "server")
        // Placeholder material until the CA is up (or, in a cluster, until the upstream signs a
        // bootstrap SVID); no listener or peer connection starts before one of those.
        material = try TLSMaterial(
            chain: [], key: Certificate.PrivateKey(P256.Signing.PrivateKey()), bundle: X509Bundle(trustDomain: config.trustDomain))
        var replication: IdentityLog.Replication?
        if let cluster = config.cluster {
            let registry: MemberRegistry
            var bootstrap: ClusterMembership?
            if cluster.join {
                registry = try MemberRegistry(joinedIn: config.dataDir, nodeName: cluster.nodeName, logger: logger)
            } else {
                let membership = try ClusterMembership(cluster)
                registry = try MemberRegistry(
                    bootstrap: membership, selfAddress: ClusterJoinWaiter.advertisedAddress(config), dataDir: config.dataDir, logger: logger)
                bootstrap = membership
            }
            let transport = try ClusterTransport(
                registry: registry, material: material, trustDomain: config.trustDomain, logger: logger)
            self.transport = transport
            replication = IdentityLog.Replication(
                registry: registry, bootstrap: bootstrap, send: { transport.send($0) },
                forward: { try await transport.forward(to: $0, data: $1, requestID: $2) },
                readIndex: { try await transport.readIndex(from: $0) },
                snapshotIntervalEntries: cluster.snapshotIntervalEntries)
        } else {
            transport = nil
        }
        log = try IdentityLog(dataDir: config.dataDir, nodeName: nodeName, replication: replication, logger: logger)
        let keys: any KeyStore = switch config.keyManager {
        case .memory: MemoryKeyStore()
        case .disk(let keysPath): try DiskKeyStore(path: keysPath)
        }
        ca = CAManager(
            settings: .init(
                trustDomain: config.trustDomain, caTTL: config.caTTL,
                subject: .init(country: config.caSubject.country, organization: config.caSubject.organization,
                               commonName: config.caSubject.commonName),
                x509KeyType: config.caKeyType, jwtKeyType: config.jwtKeyType ?? config.caKeyType,
                upstream: config.upstreamAuthority.map {
                    .init(certificatePath: $0.certFilePath, keyPath: $0.keyFilePath, bundlePath: $0.bundleFilePath)
                }),
            log: log, keys: keys)
        // A broken upstream stops the start with its reason, not the first rotation hours later.
        let upstream = try ca.settings.upstream?.load(now: Date())
        precondition(config.cluster == nil || upstream != nil, "a cluster configuration requires an upstream authority")
        upstreamRoots = upstream?.roots ?? []
        let issuer = SVIDIssuer(
            settings: .init(defaultX509TTL: config.defaultX509SVIDTTL, defaultJWTTTL: config.defaultJWTSVIDTTL, jwtIssuer: config.jwtIssuer),
            ca: ca, log: log)
        api = ServerAPI(
            log: log, ca: ca, issuer: issuer, trustDomain: config.trustDomain, adminIDs: Set(config.adminIDs),
            localPeers: PeerTracker(),
            attestationLimiter: config.rateLimit.attestation ? RateLimiter(ratePerSecond: 1, burst: 1) : nil,
            signingLimiter: config.rateLimit.signing ? RateLimiter(ratePerSecond: 500, burst: 500) : nil)
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.log.run() }
            var services: [any RegistrableRPCService] = [
                EntryService(api: api), AgentService(
                    api: api, agentTTL: config.agentTTL ?? config.defaultX509SVIDTTL, x509pop: x509pop),
                BundleService(api: api), SVIDService(api: api), LocalAuthorityService(api: api),
                AgentSyncService(api: api), health,
            ]
            let agents: GRPCServer<HTTP2ServerTransport.Custom<TLSListenerFactory>>
            if let transport {
                // A member must serve Raft before there is a leader, so its TLS listener starts
                // with the upstream-signed bootstrap SVID; its own CA follows through the log.
                try bootstrapTLS(now: Date())
                let changes = MembershipChanges(log: log, transport: transport)
                services.append(ClusterAdminService(api: api, changes: changes, selfAddress: ClusterJoinWaiter.advertisedAddress(config)))
                agents = agentServer(services: services + [
                    ClusterService(log: log, registry: transport.registry, serverID: .server(in: config.trustDomain),
                                   snapshots: SnapshotReceiver(dataDir: config.dataDir)),
                    ClusterMembersService(
                        changes: changes, serverID: .server(in: config.trustDomain),
                        selfAddress: ClusterJoinWaiter.advertisedAddress(config)),
                ])
                group.addTask { try await Self.serve(agents) }
                group.addTask { try await transport.run() }
                group.addTask { try await self.followLeadership() }
                try await log.waitForLeader()
                try await retryUntilDone("Preparing this server's CA") {
                    try await self.ca.maintain()
                    try await self.refreshTLS(force: true)
                }
            } else {
                try await log.waitUntilLeader()
                try await ca.maintain()
                try await refreshTLS(force: true)
                agents = agentServer(services: services)
                group.addTask { try await Self.serve(agents) }
            }
            let admin = try adminServer(services: services)
            group.addTask { try await self.serveAdmin(admin) }
            group.addTask { try await self.maintainForever() }
            if config.healthChecks.listenerEnabled {
                // Live: the log driver runs and leads (a single server; a stopped driver steps
                // down). Ready: it can also sign — both authorities are active.
                let health = PlainHTTPServer(routes: [
                    // In a cluster: live while the log driver runs; ready while some member
                    // leads (writes can commit) and this server can sign.
                    config.healthChecks.livePath: { [log, transport] in
                        let live = transport == nil ? log.status.role == .leader : log.status.running
                        return .init(ok: live, contentType: "application/json", body: "{\"live\":\(live)}\n")
                    },
                    config.healthChecks.readyPath: { [log, ca] in
                        let ready = log.status.leader != noNode && ca.x509 != nil && ca.jwt != nil
                        return .init(ok: ready, contentType: "application/json", body: "{\"ready\":\(ready)}\n")
                    },
                ])
                let host = config.healthChecks.bindAddress
                let port = Int(config.healthChecks.bindPort)
                group.addTask { try await health.run(host: host, port: port) }
            }
            if let port = config.telemetry.prometheusPort {
                let metrics = PlainHTTPServer(routes: [
                    "/metrics": { [log] in
                        let status = log.status
                        let state = log.state
                        let text = log.metrics.render(
                            appliedIndex: status.appliedIndex, commitIndex: status.commitIndex,
                            entries: state.entries.count, agents: state.agents.count,
                            raft: (term: status.term, leader: status.leader, isLeader: status.role == .leader))
                        return .init(ok: true, contentType: "text/plain; version=0.0.4", body: text)
                    },
                ])
                let host = config.telemetry.prometheusHost ?? "localhost"
                group.addTask { try await metrics.run(host: host, port: Int(port)) }
            }
            if transport == nil { health.setStatus(.serving) }
            logger.info("Lineage server started", metadata: [
                "trust_domain": "\(config.trustDomain.name)", "admin_socket": "\(config.socketPath)",
                "address": "\(config.bindAddress):\(config.bindPort)", "data_dir": "\(config.dataDir)",
                "upstream_authority": "\(config.upstreamAuthority == nil ? "none" : "disk")",
            ])
            defer {
                logger.info("Lineage server stopping")
                health.enterShutdown()
                admin.beginGracefulShutdown()
                agents.beginGracefulShutdown()
            }
            try await group.next()
        }
    }

    // MARK: - Listeners

    private func adminServer(services: [any RegistrableRPCService]) throws -> GRPCServer<HTTP2ServerTransport.Posix> {
        let directory = (config.socketPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if (try? FileManager.default.attributesOfItem(atPath: config.socketPath)[.type] as? FileAttributeType) == .typeSocket {
            unlink(config.socketPath)
        }
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: config.socketPath), transportSecurity: .plaintext,
            config: .defaults { $0.channelDebuggingCallbacks = api.localPeers.channelCallbacks })
        return GRPCServer(transport: transport, services: services, interceptors: [CallerInterceptor()])
    }

    private func serveAdmin(_ server: GRPCServer<HTTP2ServerTransport.Posix>) async throws {
        defer { unlink(config.socketPath) }
        try await Self.serve(server)
    }

    /// Serves until cancelled, then stops gracefully: the listener closes at once and open calls
    /// get `grace` to finish before the serving task itself is cancelled. Cancelling it directly
    /// can trap ("Deinited NIOAsyncWriter without calling finish()") when an accepted connection
    /// is still queued in the NIO listener (swift-nio issue 3481): the fault suite's SIGTERM of a
    /// leader under load crashed the server that way about one stop in five.
    static func serve<Transport: ServerTransport>(_ server: GRPCServer<Transport>, grace: Duration = .seconds(2)) async throws {
        let serving = Task { try await server.serve() }
        try await withTaskCancellationHandler {
            try await serving.value
        } onCancel: {
            server.beginGracefulShutdown()
            Task {
                try? await Task.sleep(for: grace)
                serving.cancel()
            }
        }
    }

    private func agentServer(services: [any RegistrableRPCService]) -> GRPCServer<HTTP2ServerTransport.Custom<TLSListenerFactory>> {
        var transportConfig = HTTP2ServerTransport.Custom<TLSListenerFactory>.Config.defaults
        transportConfig.channelDebuggingCallbacks = .init(
            onBindTCPListener: nil, onAcceptTCPConnection: nil, onAcceptHTTP2Stream: { TLSPeerIdentity.tagStream($0) })
        // Members ping each other while a step stream is open (`PeerLink`); gRPC's default would
        // call pings more often than every 5 minutes abuse and close the connection. Pings while
        // no call is open stay refused.
        transportConfig.connection.keepalive.clientBehavior = .init(
            minPingIntervalWithoutCalls: Limits.peerKeepaliveIntervalAccepted, allowWithoutCalls: false)
        let transport = HTTP2ServerTransport.Custom(
            listenerFactory: TLSListenerFactory(
                host: config.bindAddress, port: Int(config.bindPort), material: material,
                eventLoopGroup: MultiThreadedEventLoopGroup.singleton),
            config: transportConfig)
        return GRPCServer(transport: transport, services: services, interceptors: [CallerInterceptor()])
    }

    // MARK: - Maintenance

    private func maintainForever() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: maintenanceInterval)
            do {
                try await ca.maintain()
                try await refreshTLS(force: false)
            } catch is CancellationError {
                return
            } catch {
                logger.error("CA maintenance failed", metadata: ["error": "\(error)", "retry_in": "\(maintenanceInterval)"])
                // Without a leader nothing can be recorded, so the logged server SVID cannot be
                // renewed; members still need one to elect a leader again.
                if transport != nil, let leaf = material.serverChain.first,
                   Date() > leaf.notValidAfter - leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore) / 4 {
                    try? bootstrapTLS(now: Date())
                }
            }
        }
    }

    /// Keeps the listener's trust bundle equal to the log's and renews the server SVID at half
    /// its life, or at once when the authority that signed it is no longer active.
    private func refreshTLS(force: Bool) async throws {
        let bundle = log.state.ownBundle
        var authorities = try bundle.x509Authorities.map { try Certificate(derEncoded: $0.certificateDER) }
        if transport != nil {
            // The pre-shared roots stay trusted whatever the log says, so members can always
            // reach each other to agree on what it says.
            authorities += upstreamRoots.filter { !authorities.contains($0) }
        }
        material.update(bundle: X509Bundle(trustDomain: config.trustDomain, authorities: authorities))
        let now = Date()
        if !force, let leaf = material.serverChain.first, let active = ca.x509,
           leaf.issuer == active.authority.certificate.subject,
           now < leaf.notValidBefore + leaf.notValidAfter.timeIntervalSince(leaf.notValidBefore) / 2
        {
            return
        }
        // The server's own SVID key lives in memory only: a restart makes a new one.
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let issued = try await api.issuer.issueX509(
            publicKey: key.publicKey, for: .init(id: .server(in: config.trustDomain)), actor: .server(log.nodeName), now: now)
        try material.update(chain: try issued.chain(), key: key)
    }

    // MARK: - Cluster

    /// Signs this server's SVID with the upstream authority directly, and trusts the upstream
    /// roots: the form a member starts with, before its own CA can be recorded in the log.
    /// This is the one certificate a server signs without an event (nothing can be recorded
    /// before a leader exists); it lives `Limits.bootstrapSVIDTTL` at most, is written to the
    /// server log, and is replaced by a logged one as soon as this server's CA is active.
    private func bootstrapTLS(now: Date) throws {
        guard let upstream = try ca.settings.upstream?.load(now: now) else {
            preconditionFailure("a cluster configuration requires an upstream authority")
        }
        let (leaf, key) = try Self.signBootstrapSVID(upstream: upstream, trustDomain: config.trustDomain, now: now)
        var authorities = (try? log.state.ownBundle.x509Authorities.map { try Certificate(derEncoded: $0.certificateDER) }) ?? []
        authorities += upstreamRoots.filter { !authorities.contains($0) }
        material.update(bundle: X509Bundle(trustDomain: config.trustDomain, authorities: authorities))
        try material.update(chain: [leaf] + upstream.signer.chainAfterIssued, key: key)
        logger.info("Server SVID signed by the upstream authority for cluster bootstrap", metadata: [
            "node_name": "\(log.nodeName)", "serial": "\(leaf.serialNumber)", "expires_at": "\(leaf.notValidAfter)",
        ])
    }

    /// The bootstrap server SVID: `spiffe://<td>/spire/server` signed by the upstream directly.
    static func signBootstrapSVID(
        upstream: UpstreamAuthority, trustDomain: TrustDomain, now: Date
    ) throws -> (Certificate, Certificate.PrivateKey) {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var random = SystemRandomNumberGenerator()
        let leaf = try CertificateTemplates.x509SVID(
            id: .server(in: trustDomain), publicKey: key.publicKey,
            serialNumber: SerialNumbers.random(using: &random), now: now,
            ttl: Limits.bootstrapSVIDTTL.inSeconds, authority: upstream.signer)
        return (leaf, key)
    }

    /// Keeps the health service's answer equal to "some member leads": without a leader no
    /// write can commit.
    private func followLeadership() async throws {
        var serving: Bool?
        while !Task.isCancelled {
            let now = log.status.leader != noNode
            if now != serving {
                health.setStatus(now ? .serving : .notServing)
                logger.info(now ? "Cluster has a leader" : "Cluster has no leader", metadata: [
                    "leader": "\(transport?.registry.name(of: log.status.leader) ?? "none")",
                    "term": "\(log.status.term)",
                ])
                serving = now
            }
            if let registry = transport?.registry {
                // Removed once the removal of this server is applied here and it no longer
                // leads (a leader that removed itself leads until it has handed over).
                let status = log.status
                if !status.appliedVoters.contains(registry.selfID), status.role != .leader,
                   registry.member(registry.selfID)?.removed == true, registry.markSelfRemoved() {
                    logger.warning("This server was removed from the cluster; it no longer serves cluster traffic", metadata: [
                        "node_name": "\(registry.selfName)", "node_id": "\(registry.selfID)",
                    ])
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs `body` until it succeeds, at most once a second: right after an election the
    /// first writes may find no leader yet.
    private func retryUntilDone(_ what: String, _ body: () async throws -> Void) async throws {
        while true {
            do {
                return try await body()
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                logger.warning("\(what) failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
