import Agent
import Authority
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOPosix
import NIOSSL
import SPIFFE
import SwiftASN1
import SwiftProtobuf
import Synchronization
import Wire
import X509

/// An in-process stand-in for `lineage-server run`'s agent API, on loopback TLS, playing the
/// contract the agent relies on: AttestAgent (join_token, TLS without client certificate),
/// RenewAgent, AgentSync/WatchAuthorizedEntries, SVID/BatchNewX509SVID and SVID/NewJWTSVID
/// (mTLS with the agent SVID). It presents `spiffe://<td>/spire/server` signed by its CA.
///
/// The grpc Posix server transport cannot *request but not require* a client certificate, so
/// this one builds its own listener (`HTTP2ServerTransport.Custom`) with NIOSSL's optional
/// verification, and finds a call's peer certificate through its connection's remote address.
final class FakeLineageServer: Sendable {
    struct State {
        var joinTokens: Set<String> = []
        var agents: Set<SPIFFEID> = []
        var refusedAgents: Set<SPIFFEID> = []
        var entries: [String: Spire_Api_Types_Entry] = [:]
        var revision: UInt64 = 1
        /// Changes after a revision: (revision, upserted IDs, deleted IDs).
        var history: [(revision: UInt64, upserted: [String], deleted: [String])] = []
        var watchers: [UInt64: AsyncStream<Void>.Continuation] = [:]
        var nextWatcher: UInt64 = 0
        /// Set when `serve` ends: a watch that arrives after that ends at once, so the graceful
        /// shutdown never waits for a stream nobody will finish.
        var shuttingDown = false
        var attestCount = 0
        var renewCount = 0
        var batchCalls = 0
        var minted: [String: Int] = [:]
        var jwtCount = 0
        var agentTTL: TimeInterval = 3_600
        var svidTTL: TimeInterval = 600
        var failNextBatch = false
        /// `from_revision` of every WatchAuthorizedEntries call, in order.
        var watchRequests: [UInt64] = []
    }

    let authority: TestAuthority
    let state = Mutex(State())
    let peers = PeerRegistry()
    private let transport: HTTP2ServerTransport.Custom<TLSListenerFactory>

    init(authority: TestAuthority) throws {
        self.authority = authority
        let serverKey = P256.Signing.PrivateKey()
        let serverCert = try CertificateTemplates.x509SVID(
            id: SPIFFEID.server(in: authority.trustDomain), publicKey: Certificate.PublicKey(serverKey.publicKey),
            serialNumber: Certificate.SerialNumber(), now: Date(), ttl: 3_600, authority: authority.signing)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: try CertificateCoding.der(serverCert), format: .der))],
            privateKey: .privateKey(
                try NIOSSLPrivateKey(bytes: Array(SVIDPrivateKey(serverKey).pemEncoded().utf8), format: .pem)))
        tls.certificateVerification = .optionalVerification
        tls.applicationProtocols = ["h2"]
        let bundle = authority.x509Bundle
        let factory = TLSListenerFactory(
            sslContext: try NIOSSLContext(configuration: tls), peers: peers,
            verify: { certificates, promise in
                let chain = certificates.compactMap { try? Certificate(derEncoded: try $0.toDERBytes()) }
                Task {
                    do {
                        _ = try await X509SVID.verify(chain: chain, bundles: bundle, at: Date())
                        promise.succeed(.certificateVerified(VerificationMetadata(nil)))
                    } catch {
                        promise.succeed(.failed)
                    }
                }
            })
        transport = HTTP2ServerTransport.Custom(listenerFactory: factory)
    }

    private var services: [any RegistrableRPCService] {
        [AgentService(fake: self), SVIDService(fake: self), SyncService(fake: self)]
    }

    /// Serves until the body returns; the body gets the listening port.
    func serve<R: Sendable>(_ body: @Sendable (Int) async throws -> R) async throws -> R {
        let server = GRPCServer(transport: transport, services: services)
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                try await server.serve()
                return nil
            }
            defer {
                state.withLock { $0.shuttingDown = true }
                server.beginGracefulShutdown()
                finishWatchers()
            }
            guard let address = await transport.listeningAddress, let ipv4 = address.ipv4 else {
                throw RPCError(code: .internalError, message: "fake server did not bind")
            }
            let result = try await body(ipv4.port)
            state.withLock { $0.shuttingDown = true }
            server.beginGracefulShutdown()
            finishWatchers()
            group.cancelAll()
            return result
        }
    }

    // MARK: - Test controls

    func addJoinToken(_ token: String) { state.withLock { _ = $0.joinTokens.insert(token) } }

    /// Ends every open sync stream (as a server restart or a slow-consumer cut would).
    func dropWatchers() { finishWatchers() }

    func refuse(_ agent: SPIFFEID) { state.withLock { _ = $0.refusedAgents.insert(agent) } }

    func upsert(_ entries: [Spire_Api_Types_Entry]) {
        state.withLock { state in
            state.revision += 1
            for entry in entries { state.entries[entry.id] = entry }
            state.history.append((state.revision, entries.map(\.id), []))
        }
        notifyWatchers()
    }

    func delete(_ ids: [String]) {
        state.withLock { state in
            state.revision += 1
            for id in ids { state.entries.removeValue(forKey: id) }
            state.history.append((state.revision, [], ids))
        }
        notifyWatchers()
    }

    func entry(
        _ id: String, path: String, parent: SPIFFEID, selectors: [String], dnsNames: [String] = [], revision: Int64 = 1
    ) throws -> Spire_Api_Types_Entry {
        var entry = Spire_Api_Types_Entry()
        entry.id = id
        entry.spiffeID = try authority.id(path).wire
        entry.parentID = parent.wire
        entry.selectors = selectors.map { text in
            var selector = Spire_Api_Types_Selector()
            let parts = text.split(separator: ":", maxSplits: 1)
            selector.type = String(parts[0])
            selector.value = String(parts[1])
            return selector
        }
        entry.dnsNames = dnsNames
        entry.revisionNumber = revision
        return entry
    }

    var wireBundle: Spire_Api_Types_Bundle {
        var bundle = Spire_Api_Types_Bundle()
        bundle.trustDomain = authority.trustDomain.name
        var x509 = Spire_Api_Types_X509Certificate()
        x509.asn1 = Data(try! CertificateCoding.der(authority.signing.certificate))
        bundle.x509Authorities = [x509]
        var jwt = Spire_Api_Types_JWTKey()
        var serializer = DER.Serializer()
        try! serializer.serialize(Certificate.PublicKey(authority.jwtKey.publicKey))
        jwt.publicKey = Data(serializer.serializedBytes)
        jwt.keyID = authority.jwtKeyID
        bundle.jwtAuthorities = [jwt]
        bundle.sequenceNumber = 1
        return bundle
    }

    private func notifyWatchers() {
        for watcher in state.withLock({ Array($0.watchers.values) }) { watcher.yield() }
    }

    private func finishWatchers() {
        for watcher in state.withLock({ Array($0.watchers.values) }) { watcher.finish() }
    }

    // MARK: - Helpers for the services

    func mint(_ id: SPIFFEID, csr: Data, ttl: TimeInterval, dnsNames: [String] = []) throws -> Spire_Api_Types_X509SVID {
        let key = try CSRValidator.publicKey(fromDER: Array(csr))
        let leaf = try CertificateTemplates.x509SVID(
            id: id, publicKey: key, dnsNames: dnsNames, serialNumber: Certificate.SerialNumber(), now: Date(), ttl: ttl,
            authority: authority.signing)
        var svid = Spire_Api_Types_X509SVID()
        svid.certChain = [Data(try CertificateCoding.der(leaf))]
        svid.id = id.wire
        svid.expiresAt = Int64(leaf.notValidAfter.timeIntervalSince1970)
        return svid
    }

    /// The calling agent's ID from its TLS client certificate; refused agents and callers
    /// without a certificate get PermissionDenied (SPIRE's behaviour).
    func callerAgent(_ context: ServerContext) async throws -> SPIFFEID {
        guard let certificate = await peers.certificate(for: context.remotePeer) else {
            throw RPCError(code: .permissionDenied, message: "no client certificate")
        }
        let verified = try await X509SVID.verify(chain: [certificate], bundles: authority.x509Bundle, at: Date())
        let allowed = state.withLock { $0.agents.contains(verified.id) && !$0.refusedAgents.contains(verified.id) }
        guard allowed else { throw RPCError(code: .permissionDenied, message: "agent \(verified.id) is not attested") }
        return verified.id
    }

    func watch(from revision: UInt64, writer: RPCWriter<Lineage_Api_V1_WatchAuthorizedEntriesResponse>) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> UInt64? in
            guard !state.shuttingDown else { return nil }
            defer { state.nextWatcher += 1 }
            state.watchers[state.nextWatcher] = continuation
            return state.nextWatcher
        }
        guard let id else { return }
        defer { _ = state.withLock { $0.watchers.removeValue(forKey: id) } }
        // A client that goes away cancels the RPC, not the task: end the wait then too.
        try await withRPCCancellationHandler {
            try await follow(from: revision, writer: writer, wakeUps: stream)
        } onCancelRPC: {
            continuation.finish()
        }
    }

    private func follow(
        from revision: UInt64, writer: RPCWriter<Lineage_Api_V1_WatchAuthorizedEntriesResponse>, wakeUps stream: AsyncStream<Void>
    ) async throws {
        var sent = revision
        // First message: a full snapshot when asked from 0, else the changes since `revision`.
        var first = true
        var wakeUps = stream.makeAsyncIterator()
        while true {
            let message = state.withLock { state -> Lineage_Api_V1_WatchAuthorizedEntriesResponse? in
                var message = Lineage_Api_V1_WatchAuthorizedEntriesResponse()
                message.revision = state.revision
                if first && sent == 0 {
                    message.fullSnapshot = true
                    message.upserted = state.entries.values.sorted { $0.id < $1.id }
                    message.bundle = wireBundle
                    return message
                }
                let changes = state.history.filter { $0.revision > sent }
                if changes.isEmpty && !first { return nil }
                let upserted = Set(changes.flatMap(\.upserted))
                message.upserted = upserted.compactMap { state.entries[$0] }.sorted { $0.id < $1.id }
                message.deletedEntryIds = Array(Set(changes.flatMap(\.deleted)).subtracting(state.entries.keys)).sorted()
                return message
            }
            first = false
            if let message {
                try await writer.write(message)
                sent = message.revision
            }
            guard await wakeUps.next() != nil else { return }
        }
    }
}

// MARK: - Services

private struct AgentService: Spire_Api_Server_Agent_V1_Agent.SimpleServiceProtocol {
    let fake: FakeLineageServer

    func attestAgent(
        request: RPCAsyncSequence<Spire_Api_Server_Agent_V1_AttestAgentRequest, any Error>,
        response: RPCWriter<Spire_Api_Server_Agent_V1_AttestAgentResponse>, context: ServerContext
    ) async throws {
        var iterator = request.makeAsyncIterator()
        guard let first = try await iterator.next(), case .params(let params) = first.step else {
            throw RPCError(code: .invalidArgument, message: "first message must carry params")
        }
        guard params.data.type == "join_token" else {
            throw RPCError(code: .invalidArgument, message: "unsupported attestor \(params.data.type)")
        }
        let token = String(decoding: params.data.payload, as: UTF8.self)
        let (known, ttl) = fake.state.withLock { ($0.joinTokens.remove(token) != nil, $0.agentTTL) }
        guard known else { throw RPCError(code: .permissionDenied, message: "failed to attest: join token does not exist or has already been used") }
        let id = try SPIFFEID.agent(in: fake.authority.trustDomain, attestor: "join_token", segments: [token])
        var result = Spire_Api_Server_Agent_V1_AttestAgentResponse()
        var body = Spire_Api_Server_Agent_V1_AttestAgentResponse.Result()
        body.svid = try fake.mint(id, csr: params.params.csr, ttl: ttl)
        body.reattestable = false
        result.result = body
        fake.state.withLock {
            $0.agents.insert(id)
            $0.attestCount += 1
        }
        try await response.write(result)
    }

    func renewAgent(
        request: Spire_Api_Server_Agent_V1_RenewAgentRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Agent_V1_RenewAgentResponse {
        let id = try await fake.callerAgent(context)
        var response = Spire_Api_Server_Agent_V1_RenewAgentResponse()
        response.svid = try fake.mint(id, csr: request.params.csr, ttl: fake.state.withLock { $0.agentTTL })
        fake.state.withLock { $0.renewCount += 1 }
        return response
    }

    func countAgents(request: Spire_Api_Server_Agent_V1_CountAgentsRequest, context: ServerContext) async throws -> Spire_Api_Server_Agent_V1_CountAgentsResponse { throw unimplemented }
    func listAgents(request: Spire_Api_Server_Agent_V1_ListAgentsRequest, context: ServerContext) async throws -> Spire_Api_Server_Agent_V1_ListAgentsResponse { throw unimplemented }
    func getAgent(request: Spire_Api_Server_Agent_V1_GetAgentRequest, context: ServerContext) async throws -> Spire_Api_Types_Agent { throw unimplemented }
    func deleteAgent(request: Spire_Api_Server_Agent_V1_DeleteAgentRequest, context: ServerContext) async throws -> Google_Protobuf_Empty { throw unimplemented }
    func banAgent(request: Spire_Api_Server_Agent_V1_BanAgentRequest, context: ServerContext) async throws -> Google_Protobuf_Empty { throw unimplemented }
    func createJoinToken(request: Spire_Api_Server_Agent_V1_CreateJoinTokenRequest, context: ServerContext) async throws -> Spire_Api_Types_JoinToken { throw unimplemented }
    func postStatus(request: Spire_Api_Server_Agent_V1_PostStatusRequest, context: ServerContext) async throws -> Spire_Api_Server_Agent_V1_PostStatusResponse { throw unimplemented }
}

private struct SVIDService: Spire_Api_Server_Svid_V1_SVID.SimpleServiceProtocol {
    let fake: FakeLineageServer

    func batchNewX509SVID(
        request: Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse {
        _ = try await fake.callerAgent(context)
        let (entries, ttl, fail) = fake.state.withLock { state in
            state.batchCalls += 1
            defer { state.failNextBatch = false }
            return (state.entries, state.svidTTL, state.failNextBatch)
        }
        if fail { throw RPCError(code: .unavailable, message: "injected failure") }
        var response = Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse()
        for params in request.params {
            var result = Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse.Result()
            if let entry = entries[params.entryID] {
                let id = try SPIFFEID(entry.spiffeID)
                result.svid = try fake.mint(id, csr: params.csr, ttl: ttl, dnsNames: entry.dnsNames)
                fake.state.withLock { $0.minted[params.entryID, default: 0] += 1 }
            } else {
                result.status.code = Int32(RPCError.Code.notFound.rawValue)
                result.status.message = "entry not found"
            }
            response.results.append(result)
        }
        return response
    }

    func newJWTSVID(
        request: Spire_Api_Server_Svid_V1_NewJWTSVIDRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Svid_V1_NewJWTSVIDResponse {
        _ = try await fake.callerAgent(context)
        guard let entry = fake.state.withLock({ $0.entries[request.entryID] }) else {
            throw RPCError(code: .notFound, message: "entry not found")
        }
        let now = Date()
        let jwt = try JWTSVID.sign(
            subject: try SPIFFEID(entry.spiffeID), audience: request.audience, expiresAt: now + 300, issuedAt: now,
            keyID: fake.authority.jwtKeyID, signer: JWTSigningKey(fake.authority.jwtKey))
        fake.state.withLock { $0.jwtCount += 1 }
        var response = Spire_Api_Server_Svid_V1_NewJWTSVIDResponse()
        response.svid.token = jwt.token
        response.svid.id = entry.spiffeID
        response.svid.issuedAt = Int64(now.timeIntervalSince1970)
        response.svid.expiresAt = Int64(now.timeIntervalSince1970) + 300
        return response
    }

    func mintX509SVID(request: Spire_Api_Server_Svid_V1_MintX509SVIDRequest, context: ServerContext) async throws -> Spire_Api_Server_Svid_V1_MintX509SVIDResponse { throw unimplemented }
    func mintJWTSVID(request: Spire_Api_Server_Svid_V1_MintJWTSVIDRequest, context: ServerContext) async throws -> Spire_Api_Server_Svid_V1_MintJWTSVIDResponse { throw unimplemented }
    func newDownstreamX509CA(request: Spire_Api_Server_Svid_V1_NewDownstreamX509CARequest, context: ServerContext) async throws -> Spire_Api_Server_Svid_V1_NewDownstreamX509CAResponse { throw unimplemented }
}

private struct SyncService: Lineage_Api_V1_AgentSync.SimpleServiceProtocol {
    let fake: FakeLineageServer

    func watchAuthorizedEntries(
        request: Lineage_Api_V1_WatchAuthorizedEntriesRequest,
        response: RPCWriter<Lineage_Api_V1_WatchAuthorizedEntriesResponse>, context: ServerContext
    ) async throws {
        _ = try await fake.callerAgent(context)
        fake.state.withLock { $0.watchRequests.append(request.fromRevision) }
        try await fake.watch(from: request.fromRevision, writer: response)
    }
}

private let unimplemented = RPCError(code: .unimplemented, message: "not in the test double")

// MARK: - TLS listener with optional client certificates

/// Accepted connections by remote address ("ipv4:127.0.0.1:port", as `ServerContext.remotePeer`
/// spells it), so a handler can ask its connection for the peer certificate.
final class PeerRegistry: Sendable {
    private let channels = Mutex<[String: any Channel]>([:])

    func register(_ channel: any Channel) {
        guard let address = channel.remoteAddress, let ip = address.ipAddress, let port = address.port else { return }
        let key = "ipv4:\(ip):\(port)"
        channels.withLock { $0[key] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in _ = self?.channels.withLock { $0.removeValue(forKey: key) } }
    }

    func certificate(for remotePeer: String) async -> Certificate? {
        guard let channel = channels.withLock({ $0[remotePeer] }) else { return nil }
        guard let peer = try? await channel.nioSSL_peerCertificate().get() else { return nil }
        return try? Certificate(derEncoded: try peer.toDERBytes())
    }
}

struct TLSListenerFactory: HTTP2ServerTransport.ListenerFactory {
    let eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    let sslContext: NIOSSLContext
    let peers: PeerRegistry
    let verify: @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let sslContext = self.sslContext
        let peers = self.peers
        let verify = self.verify
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { listenerConfigurator.configure(channel: $0) }
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLServerHandler(context: sslContext, customVerificationCallbackWithMetadata: verify))
                    peers.register(channel)
                }.flatMap {
                    connectionConfigurator.configure(channel: channel, tls: .configured(requireALPN: false))
                }
            }
    }
}
