import Authority
import Config
import Foundation
import IdentityModel
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import SPIFFE
import Synchronization
import Wire
import X509

#if canImport(Glibc)
import Glibc
#endif

/// A server started with `cluster { join = true }` and no membership yet: it serves only
/// `ClusterAdmin` on its admin socket until `lineage-server cluster join -address` asks it to
/// join, then records what the cluster answered and returns, so the server starts as a member.
///
/// It proves it is one of the trust domain's servers the way bootstrap members do: with an
/// SVID for `spiffe://<td>/spire/server` signed by the shared upstream authority.
public struct ClusterJoinWaiter: Sendable {
    let config: ServerConfig
    let cluster: ServerConfig.Cluster
    let logger: Logger

    public init(config: ServerConfig, logger: Logger) {
        precondition(config.cluster?.join == true, "only a server in join mode waits to join")
        self.config = config
        self.cluster = config.cluster!
        self.logger = logger
    }

    /// Whether `config` asks to join and the data directory holds no membership yet.
    public static func needed(_ config: ServerConfig) -> Bool {
        config.cluster?.join == true && !MemberRegistry.isJoined(dataDir: config.dataDir)
    }

    /// Where the other members reach this server: advertise_address, else the bind address
    /// unless it is a wildcard.
    static func advertisedAddress(_ config: ServerConfig) -> String? {
        if let advertise = config.cluster?.advertiseAddress { return advertise }
        guard !["0.0.0.0", "::", "[::]", ""].contains(config.bindAddress) else { return nil }
        let host = config.bindAddress.contains(":") ? "[\(config.bindAddress)]" : config.bindAddress
        return "\(host):\(config.bindPort)"
    }

    /// Serves the admin socket until a join succeeded.
    public func run() async throws {
        if FileManager.default.fileExists(atPath: DataDirectory.logStore(config.dataDir)) {
            throw MemberRegistry.RegistryError(description: """
                \(config.dataDir) already holds a log but no cluster membership; a joining server needs an empty data_dir
                """)
        }
        guard Self.advertisedAddress(config) != nil else {
            throw MemberRegistry.RegistryError(description: """
                "server.cluster.advertise_address" is required to join when bind_address is a wildcard (\(config.bindAddress))
                """)
        }
        guard config.upstreamAuthority != nil else {
            preconditionFailure("a cluster configuration requires an upstream authority (checked by the config)")
        }
        let (joined, finish) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let service = WaitingAdminService(waiter: self, finished: finish)
        let directory = (config.socketPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if (try? FileManager.default.attributesOfItem(atPath: config.socketPath)[.type] as? FileAttributeType) == .typeSocket {
            unlink(config.socketPath)
        }
        let server = GRPCServer(
            transport: HTTP2ServerTransport.Posix(address: .unixDomainSocket(path: config.socketPath), transportSecurity: .plaintext),
            services: [service])
        logger.info("Waiting to join a cluster (lineage-server cluster join -address host:port)", metadata: [
            "node_name": "\(cluster.nodeName)", "admin_socket": "\(config.socketPath)",
        ])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            var iterator = joined.makeAsyncIterator()
            _ = await iterator.next()
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
        unlink(config.socketPath)
    }

    /// Asks the member at `address` to add this server; records the answer in the data directory.
    func join(address text: String) async throws -> Lineage_Api_V1_ClusterJoinResponse {
        let address: PeerAddress
        do {
            address = try PeerAddress(parsing: text)
        } catch {
            throw RPCError(code: .invalidArgument, message: "malformed -address: \(error)")
        }
        guard let advertise = Self.advertisedAddress(config), let files = config.upstreamAuthority else {
            throw RPCError(code: .failedPrecondition, message: "this server has no address to advertise")
        }
        let upstream = try CAManager.UpstreamFiles(
            certificatePath: files.certFilePath, keyPath: files.keyFilePath, bundlePath: files.bundleFilePath).load(now: Date())
        let (leaf, key) = try ServerRuntime.signBootstrapSVID(upstream: upstream, trustDomain: config.trustDomain, now: Date())
        let material = try TLSMaterial(
            chain: [leaf] + upstream.signer.chainAfterIssued, key: key,
            bundle: X509Bundle(trustDomain: config.trustDomain, authorities: upstream.roots))
        logger.info("Server SVID signed by the upstream authority for cluster bootstrap", metadata: [
            "node_name": "\(cluster.nodeName)", "serial": "\(leaf.serialNumber)", "expires_at": "\(leaf.notValidAfter)",
        ])
        let identity = ClusterTLS(material: material, serverID: .server(in: config.trustDomain))
        var request = Lineage_Api_V1_MemberJoinRequest()
        request.nodeName = cluster.nodeName
        request.address = advertise
        var options = CallOptions.defaults
        options.timeout = Limits.membershipChangeTimeout
        let answer = try await withGRPCClient(transport: try PeerLink.transport(to: address, identity: identity)) { client in
            try await Lineage_Api_V1_ClusterMembers.Client(wrapping: client).join(request, options: options)
        }
        guard answer.nodeID > UInt64(answer.bootstrapMembers.count), !answer.bootstrapMembers.isEmpty,
              Array(answer.clusterIdentity) == ClusterMembership.fingerprint(of: try answer.bootstrapMembers.map { try NodeName($0) })
        else {
            throw RPCError(code: .internalError, message: "the member at \(address) answered the join inconsistently (node \(answer.nodeID))")
        }
        var members = answer.members.map { record in
            MemberRegistry.Member(
                id: record.nodeID, name: record.name,
                // The member that answered may not know its own address; this server just dialled it.
                address: record.address.isEmpty ? (record.name == answer.responder ? address.description : nil) : record.address,
                removed: record.removed)
        }
        members.removeAll { $0.id == answer.nodeID }
        members.append(.init(id: answer.nodeID, name: cluster.nodeName, address: advertise, removed: false))
        try MemberRegistry.recordJoin(
            dataDir: config.dataDir, selfID: answer.nodeID, selfName: cluster.nodeName, bootstrap: answer.bootstrapMembers,
            members: members)
        logger.info("Joined the cluster", metadata: [
            "node_name": "\(cluster.nodeName)", "node_id": "\(answer.nodeID)", "via": "\(address)",
        ])
        var response = Lineage_Api_V1_ClusterJoinResponse()
        response.nodeID = answer.nodeID
        response.clusterIdentity = answer.clusterIdentity.map { String(format: "%02x", $0) }.joined()
        response.bootstrapMembers = answer.bootstrapMembers
        if answer.leaderFirstIndex > 1 {
            response.note = """
                the leader's log starts at index \(answer.leaderFirstIndex) (older entries were compacted into a snapshot): \
                this server must receive that snapshot, which is sent in one message of at most 3 MiB until snapshot streaming is built
                """
            logger.warning("Joining needs a snapshot", metadata: ["leader_first_index": "\(answer.leaderFirstIndex)"])
        }
        return response
    }
}

/// `ClusterAdmin` while waiting to join: status says so, join joins (once), leave is refused.
private struct WaitingAdminService: Lineage_Api_V1_ClusterAdmin.SimpleServiceProtocol {
    let waiter: ClusterJoinWaiter
    let finished: AsyncStream<Void>.Continuation
    /// One join at a time (a class: a Mutex cannot be copied with the service value).
    let joining = JoinGate()

    init(waiter: ClusterJoinWaiter, finished: AsyncStream<Void>.Continuation) {
        self.waiter = waiter
        self.finished = finished
    }

    func status(request: Lineage_Api_V1_ClusterStatusRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterStatusResponse {
        var response = Lineage_Api_V1_ClusterStatusResponse()
        response.nodeName = waiter.cluster.nodeName
        response.role = "waiting-to-join"
        return response
    }

    func join(request: Lineage_Api_V1_ClusterJoinRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterJoinResponse {
        guard joining.busy.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw RPCError(code: .failedPrecondition, message: "a join is already under way")
        }
        do {
            let response = try await waiter.join(address: request.address)
            finished.yield()
            return response
        } catch {
            joining.busy.withLock { $0 = false }
            waiter.logger.warning("Joining the cluster failed", metadata: ["address": "\(request.address)", "error": "\(error)"])
            throw error
        }
    }

    func leave(request: Lineage_Api_V1_ClusterLeaveRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterLeaveResponse {
        throw RPCError(code: .failedPrecondition, message: "this server has not joined a cluster yet")
    }
}

private final class JoinGate: Sendable {
    let busy = Mutex(false)
}
