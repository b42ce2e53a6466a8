import Consensus
import Foundation
import GRPCCore
import IdentityModel
import Logging
import SPIFFE
import Synchronization
import Wire

/// This server's side of the cluster protocol as a client: Raft messages out to each peer over
/// its `PeerLink`, writes forwarded to the leader. The receiving side is `ClusterService`.
///
/// Links follow the `MemberRegistry`: one per member with a known address, made when the
/// registry learns the member (from the configuration, or from the log when one joins).
public final class ClusterTransport: Sendable {
    public let registry: MemberRegistry
    private let links = Mutex<[NodeID: PeerLink]>([:])
    /// New links for `run()` to start.
    private let started: AsyncStream<PeerLink>.Continuation
    private let starts: AsyncStream<PeerLink>
    private let sender: Lineage_Api_V1_ClusterSender
    private let identity: ClusterTLS
    private let logger: Logger

    init(registry: MemberRegistry, material: TLSMaterial, trustDomain: TrustDomain, logger: Logger) throws {
        self.registry = registry
        self.logger = logger
        var sender = Lineage_Api_V1_ClusterSender()
        sender.nodeName = registry.selfName.rawValue
        sender.membershipFingerprint = Data(registry.identity)
        self.sender = sender
        identity = ClusterTLS(material: material, serverID: .server(in: trustDomain))
        // At most one link per member, and members are bounded by the core's voter limit plus
        // removed ones; unbounded buffering here holds only those.
        (starts, started) = AsyncStream.makeStream(of: PeerLink.self, bufferingPolicy: .unbounded)
        registry.onMember { [weak self] member in self?.ensureLink(member) }
    }

    private func ensureLink(_ member: MemberRegistry.Member) {
        guard member.id != registry.selfID, let text = member.address,
              let address = try? PeerAddress(parsing: text), let name = try? NodeName(member.name) else { return }
        let link = links.withLock { links -> PeerLink? in
            if let existing = links[member.id], existing.member.address == address { return nil }
            do {
                let link = try PeerLink(
                    member: ClusterMembership.Member(name: name, id: member.id, address: address), sender: sender,
                    identity: identity, logger: logger, onRemoved: { [weak self] in self?.refusedAsRemoved() })
                links[member.id] = link
                return link
            } catch {
                logger.error("Cannot make a link to a cluster member", metadata: ["peer": "\(member.name)", "error": "\(error)"])
                return nil
            }
        }
        if let link { started.yield(link) }
    }

    private func refusedAsRemoved() {
        if registry.markSelfRemoved() {
            logger.warning("This server was removed from the cluster (its peers refuse it); it no longer serves cluster traffic", metadata: [
                "node_name": "\(registry.selfName)", "node_id": "\(registry.selfID)",
            ])
        }
    }

    /// The driver's `send`: never waits, drops what cannot be queued.
    func send(_ messages: [Message]) {
        guard !registry.selfRemoved else { return }
        var byPeer: [NodeID: [Message]] = [:]
        for message in messages { byPeer[message.to, default: []].append(message) }
        let current = links.withLock { $0 }
        for (peer, batch) in byPeer {
            guard let link = current[peer] else {
                // A member whose address this server has not learned (yet): Raft retransmits.
                logger.debug("Raft addressed a node with no known address", metadata: ["node_id": "\(peer)"])
                continue
            }
            // Snapshots stream in chunks on their own RPC; everything else goes in Step batches.
            for message in batch where message.kind == .snapshot { link.enqueueSnapshot(message) }
            link.enqueue(batch.filter { $0.kind != .snapshot })
        }
    }

    func forward(to leader: NodeID, data: [UInt8], requestID: Consensus.RequestID) async throws -> IdentityLog.Replication.ForwardReply {
        guard let link = links.withLock({ $0[leader] }) else {
            throw RPCError(code: .unavailable, message: "node \(leader) is not a peer of this server")
        }
        return try await link.forward(data, requestID: requestID)
    }

    /// Asks `leader` to add or remove a member.
    func changeMembership(at leader: NodeID, _ request: Lineage_Api_V1_MembershipChangeRequest) async throws
        -> Lineage_Api_V1_MembershipChangeResponse
    {
        guard let link = links.withLock({ $0[leader] }) else {
            throw RPCError(code: .unavailable, message: "node \(leader) is not a peer of this server")
        }
        var request = request
        request.sender = registry.selfName.rawValue
        request.clusterIdentity = Data(registry.identity)
        var options = CallOptions.defaults
        options.timeout = Limits.membershipChangeTimeout
        options.waitForReady = false
        return try await Lineage_Api_V1_ClusterMembers.Client(wrapping: link.client).changeMembership(request, options: options)
    }

    /// Asks `leader` for its read index (Raft ReadIndex); nil when it no longer leads.
    func readIndex(from leader: NodeID) async throws -> UInt64? {
        guard let link = links.withLock({ $0[leader] }) else {
            throw RPCError(code: .unavailable, message: "node \(leader) is not a peer of this server")
        }
        return try await link.readIndex()
    }

    /// Connects to every peer and sends until cancelled. Start it once the server has an SVID.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for await link in starts {
                group.addTask { try await link.run() }
            }
        }
    }
}
