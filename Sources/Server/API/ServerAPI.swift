import Foundation
import GRPCCore
import IdentityModel
import PeerTracking
import Projections
import SPIFFE
import X509

/// What every API service shares: the log (decisions), the CA (signing), and how to tell who
/// is calling.
public struct ServerAPI: Sendable {
    public let log: IdentityLog
    public let ca: CAManager
    public let issuer: SVIDIssuer
    public let trustDomain: TrustDomain
    /// SPIFFE IDs that may use the admin API over TLS besides `-admin` entries (`admin_ids`).
    public let adminIDs: Set<SPIFFEID>
    /// Who is on the other end of an admin-socket connection.
    public let localPeers: PeerTracker
    /// SPIRE's per-address limits on the TCP API (nil: turned off in `ratelimit`).
    public let attestationLimiter: RateLimiter?
    public let signingLimiter: RateLimiter?

    public init(log: IdentityLog, ca: CAManager, issuer: SVIDIssuer, trustDomain: TrustDomain,
                adminIDs: Set<SPIFFEID>, localPeers: PeerTracker,
                attestationLimiter: RateLimiter? = nil, signingLimiter: RateLimiter? = nil) {
        self.attestationLimiter = attestationLimiter
        self.signingLimiter = signingLimiter
        self.log = log
        self.ca = ca
        self.issuer = issuer
        self.trustDomain = trustDomain
        self.adminIDs = adminIDs
        self.localPeers = localPeers
    }

    /// Who made a call, as the transport proves it: a local process on the admin socket, or
    /// the SPIFFE ID of a verified TLS client certificate.
    public enum Caller: Sendable {
        case local(uid: UInt32)
        case svid(id: SPIFFEID, serial: CertificateSerialNumber)
        /// A TLS client without a certificate (only attestation accepts it).
        case anonymous
    }

    /// The caller of the RPC this task serves (`CallerInterceptor` provides its metadata).
    func caller() -> Caller {
        let metadata = CallerInterceptor.metadata
        if let peer = localPeers.peer(for: metadata) { return .local(uid: peer.uid) }
        if let (id, serial) = TLSPeerIdentity.verifiedClient(in: metadata) { return .svid(id: id, serial: serial) }
        return .anonymous
    }

    /// `requireAdmin()` for handlers, failing with the RPC error itself.
    func adminCaller() throws(RPCError) -> Actor {
        do {
            return try requireAdmin()
        } catch {
            throw error.rpcError
        }
    }

    /// `adminCaller()` for a read that must be current: on a cluster member, waits for a read
    /// index from the leader and for this server to apply through it (`IdentityLog.awaitCurrent`),
    /// so an operator never reads a member that lags a write made on another. Unavailable when
    /// no leader answers within `Limits.currentReadWait`.
    func adminRead() async throws -> Actor {
        let actor = try adminCaller()
        try await currentRead()
        return actor
    }

    func currentRead() async throws {
        do {
            try await log.awaitCurrent()
        } catch let error as IdentityLog.Unavailable {
            throw RPCError(code: .unavailable, message: error.description)
        } catch let error as LogDriver<ProjectionApplier>.ProposalError {
            throw error.rpcError
        }
    }

    /// `requireAgent()` for handlers, failing with the RPC error itself.
    func agentCaller() async throws(RPCError) -> AgentRecord {
        do {
            return try await requireAgent()
        } catch {
            throw error.rpcError
        }
    }

    /// Waits for `limiter`'s admission of `cost` requests from the caller's address; callers on
    /// the admin socket are local administrators and are not limited.
    func admit(_ limiter: RateLimiter?, cost: Int, context: ServerContext) async throws {
        guard let limiter, !context.remotePeer.hasPrefix("unix") else { return }
        if case .local = caller() { return }
        do {
            try await limiter.admit(RateLimiter.address(ofPeer: context.remotePeer), cost: cost)
        } catch let error as RateLimitExceeded {
            throw RPCError(code: .resourceExhausted, message: "\(error)")
        }
    }

    /// The actor recorded in events for an admin call; throws PermissionDenied for anyone else.
    func requireAdmin() throws(APIError) -> Actor {
        switch caller() {
        case .local(let uid): return .localAdmin(uid: uid)
        case .svid(let id, _):
            if adminIDs.contains(id) { return .admin(id) }
            let state = log.state
            if state.entriesBySPIFFEID[id]?.contains(where: { state.entries[$0]?.admin == true }) == true { return .admin(id) }
            throw APIError(.permissionDenied, "authorization denied for \(id): not an admin")
        case .anonymous:
            throw APIError(.permissionDenied, "authorization denied: caller has no X509-SVID")
        }
    }

    /// The calling agent's record. SPIRE's rules: the agent must exist, not be banned, and
    /// present the SVID the server last issued to it — a renewed SVID becomes current on first
    /// use and from then on the old serial is refused.
    func requireAgent() async throws(APIError) -> AgentRecord {
        guard case .svid(let id, let serial) = caller() else {
            throw APIError(.permissionDenied, "authorization denied: caller is not an agent")
        }
        guard let agent = log.state.agents[id] else {
            throw APIError(.permissionDenied, "authorization denied: \(id) is not an attested agent")
        }
        guard !agent.banned else { throw APIError(.permissionDenied, "authorization denied: agent \(id) is banned") }
        if agent.serialNumber == serial { return agent }
        if agent.pendingSerialNumber == serial {
            do {
                try await log.submit(.agentRenewalActivated(AgentRenewalActivated(agentID: id, serialNumber: serial)), by: .agent(id))
            } catch {
                throw APIError.from(error)
            }
            if let updated = log.state.agents[id] { return updated }
        }
        throw APIError(.permissionDenied, "authorization denied: agent \(id) presented serial \(serial), not its current SVID")
    }
}

/// Makes each call's request metadata available to the handler that serves it: the generated
/// "simple" service protocols pass handlers only the message, and who is calling is in the
/// metadata (`PeerTracker`, `TLSPeerIdentity`).
struct CallerInterceptor: ServerInterceptor {
    @TaskLocal static var metadata: Metadata = [:]

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let metadata = request.metadata
        var response = try await Self.$metadata.withValue(metadata) { try await next(request, context) }
        // A streaming handler runs later, inside the response's producer: carry the value there.
        if case .success(var contents) = response.accepted {
            let producer = contents.producer
            contents.producer = { writer in try await Self.$metadata.withValue(metadata) { try await producer(writer) } }
            response.accepted = .success(contents)
        }
        return response
    }
}
