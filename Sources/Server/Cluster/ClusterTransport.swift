import Consensus
import Foundation
import GRPCCore
import IdentityModel
import Logging
import SPIFFE
import Wire

/// This server's side of the cluster protocol as a client: Raft messages out to each peer over
/// its `PeerLink`, writes forwarded to the leader. The receiving side is `ClusterService`.
public final class ClusterTransport: Sendable {
    public let membership: ClusterMembership
    private let links: [NodeID: PeerLink]
    private let logger: Logger

    init(membership: ClusterMembership, material: TLSMaterial, trustDomain: TrustDomain, logger: Logger) throws {
        self.membership = membership
        self.logger = logger
        var sender = Lineage_Api_V1_ClusterSender()
        sender.nodeName = membership.selfName.rawValue
        sender.membershipFingerprint = Data(membership.fingerprint)
        let identity = ClusterTLS(material: material, serverID: .server(in: trustDomain))
        var links: [NodeID: PeerLink] = [:]
        for peer in membership.peers {
            links[peer.id] = try PeerLink(member: peer, sender: sender, identity: identity, logger: logger)
        }
        self.links = links
    }

    /// The driver's `send`: never waits, drops what cannot be queued.
    func send(_ messages: [Message]) {
        var byPeer: [NodeID: [Message]] = [:]
        for message in messages { byPeer[message.to, default: []].append(message) }
        for (peer, batch) in byPeer {
            guard let link = links[peer] else {
                // The core only addresses voters of its configuration, which are all members.
                logger.error("Raft addressed a node that is not a member", metadata: ["node_id": "\(peer)"])
                continue
            }
            // Snapshots stream in chunks on their own RPC; everything else goes in Step batches.
            for message in batch where message.kind == .snapshot { link.enqueueSnapshot(message) }
            link.enqueue(batch.filter { $0.kind != .snapshot })
        }
    }

    func forward(to leader: NodeID, data: [UInt8], requestID: Consensus.RequestID) async throws -> IdentityLog.Replication.ForwardReply {
        guard let link = links[leader] else {
            throw RPCError(code: .unavailable, message: "node \(leader) is not a peer of this server")
        }
        return try await link.forward(data, requestID: requestID)
    }

    func readIndex(from leader: NodeID) async throws -> UInt64? {
        guard let link = links[leader] else {
            throw RPCError(code: .unavailable, message: "node \(leader) is not a peer of this server")
        }
        return try await link.readIndex()
    }

    /// Connects to every peer and sends until cancelled. Start it once the server has an SVID.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for link in links.values { group.addTask { try await link.run() } }
        }
    }
}
