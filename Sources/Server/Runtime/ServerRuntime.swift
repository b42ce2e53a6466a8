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

    public init(config: ServerConfig, maintenanceInterval: Duration = .seconds(5), logger: Logger) throws {
        self.config = config
        self.maintenanceInterval = maintenanceInterval
        self.logger = logger
        let caBundlePaths = config.nodeAttestors.lazy.compactMap { attestor -> [String]? in
            if case .x509pop(let paths) = attestor { paths } else { nil }
        }.first
        x509pop = try caBundlePaths.map { paths throws(AttestationError) in
            try X509PoPVerifier.load(trustDomain: config.trustDomain, caBundlePaths: paths)
        }
        let nodeName = try NodeName(config.cluster?.nodeName ?? "server")
        log = try IdentityLog(dataDir: config.dataDir, nodeName: nodeName, logger: logger)
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
        _ = try ca.settings.upstream?.load(now: Date())
        let issuer = SVIDIssuer(
            settings: .init(defaultX509TTL: config.defaultX509SVIDTTL, defaultJWTTTL: config.defaultJWTSVIDTTL, jwtIssuer: config.jwtIssuer),
            ca: ca, log: log)
        api = ServerAPI(
            log: log, ca: ca, issuer: issuer, trustDomain: config.trustDomain, adminIDs: Set(config.adminIDs),
            localPeers: PeerTracker(),
            attestationLimiter: config.rateLimit.attestation ? RateLimiter(ratePerSecond: 1, burst: 1) : nil,
            signingLimiter: config.rateLimit.signing ? RateLimiter(ratePerSecond: 500, burst: 500) : nil)
        // Placeholder material until the CA is up; the TLS listener starts only after `refreshTLS`.
        material = try TLSMaterial(
            chain: [], key: Certificate.PrivateKey(P256.Signing.PrivateKey()), bundle: X509Bundle(trustDomain: config.trustDomain))
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.log.run() }
            try await log.waitUntilLeader()
            try await ca.maintain()
            try await refreshTLS(force: true)
            let services: [any RegistrableRPCService] = [
                EntryService(api: api), AgentService(
                    api: api, agentTTL: config.agentTTL ?? config.defaultX509SVIDTTL, x509pop: x509pop),
                BundleService(api: api), SVIDService(api: api), LocalAuthorityService(api: api),
                AgentSyncService(api: api), health,
            ]
            let admin = try adminServer(services: services)
            let agents = agentServer(services: services)
            group.addTask { try await self.serveAdmin(admin) }
            group.addTask { try await agents.serve() }
            group.addTask { try await self.maintainForever() }
            if config.healthChecks.listenerEnabled {
                // Live: the log driver runs and leads (a single server; a stopped driver steps
                // down). Ready: it can also sign — both authorities are active.
                let health = PlainHTTPServer(routes: [
                    config.healthChecks.livePath: { [log] in
                        let live = log.status.role == .leader
                        return .init(ok: live, contentType: "application/json", body: "{\"live\":\(live)}\n")
                    },
                    config.healthChecks.readyPath: { [log, ca] in
                        let ready = log.status.role == .leader && ca.x509 != nil && ca.jwt != nil
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
                            entries: state.entries.count, agents: state.agents.count)
                        return .init(ok: true, contentType: "text/plain; version=0.0.4", body: text)
                    },
                ])
                let host = config.telemetry.prometheusHost ?? "localhost"
                group.addTask { try await metrics.run(host: host, port: Int(port)) }
            }
            health.setStatus(.serving)
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
        try await server.serve()
    }

    private func agentServer(services: [any RegistrableRPCService]) -> GRPCServer<HTTP2ServerTransport.Custom<TLSListenerFactory>> {
        var transportConfig = HTTP2ServerTransport.Custom<TLSListenerFactory>.Config.defaults
        transportConfig.channelDebuggingCallbacks = .init(
            onBindTCPListener: nil, onAcceptTCPConnection: nil, onAcceptHTTP2Stream: { TLSPeerIdentity.tagStream($0) })
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
            }
        }
    }

    /// Keeps the listener's trust bundle equal to the log's and renews the server SVID at half
    /// its life, or at once when the authority that signed it is no longer active.
    private func refreshTLS(force: Bool) async throws {
        let bundle = log.state.ownBundle
        let authorities = try bundle.x509Authorities.map { try Certificate(derEncoded: $0.certificateDER) }
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
        try material.update(chain: issued.chain, key: key)
    }
}
