import Consensus
import Foundation
import GRPCCore
import IdentityModel
import Wire

/// `lineage.api.v1.ClusterAdmin` on a running member: `cluster status` and `cluster leave`.
/// `cluster join` is answered by a server waiting to join (`ClusterJoinWaiter`); a member says
/// it already is one.
struct ClusterAdminService: Lineage_Api_V1_ClusterAdmin.SimpleServiceProtocol {
    let api: ServerAPI
    let changes: MembershipChanges
    let selfAddress: String?

    func status(request: Lineage_Api_V1_ClusterStatusRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterStatusResponse {
        _ = try api.adminCaller()
        return Self.report(status: api.log.status, registry: changes.registry, selfAddress: selfAddress)
    }

    func join(request: Lineage_Api_V1_ClusterJoinRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterJoinResponse {
        _ = try api.adminCaller()
        let registry = changes.registry
        throw RPCError(code: .failedPrecondition, message: """
            this server is already a member of a cluster (\(registry.selfName), node \(registry.selfID)); \
            only a server started with cluster { join = true } and an empty data_dir can join
            """)
    }

    func leave(request: Lineage_Api_V1_ClusterLeaveRequest, context: ServerContext) async throws -> Lineage_Api_V1_ClusterLeaveResponse {
        _ = try api.adminCaller()
        guard !request.name.isEmpty else { throw RPCError(code: .invalidArgument, message: "a member name is required (-name)") }
        let done = try await changes.remove(name: request.name)
        var response = Lineage_Api_V1_ClusterLeaveResponse()
        response.nodeID = done.id
        response.index = done.index
        return response
    }

    static func roleName(_ role: Role) -> String {
        switch role {
        case .follower: "follower"
        case .preCandidate: "pre-candidate"
        case .candidate: "candidate"
        case .leader: "leader"
        }
    }

    /// What `cluster status` shows: members are the latest configuration's voters and any
    /// member the log named that is neither a voter nor removed.
    static func report(
        status: LogDriver<ProjectionApplier>.Status, registry: MemberRegistry, selfAddress: String?
    ) -> Lineage_Api_V1_ClusterStatusResponse {
        var response = Lineage_Api_V1_ClusterStatusResponse()
        response.nodeName = registry.selfName.rawValue
        response.nodeID = registry.selfID
        response.role = registry.selfRemoved ? "removed" : roleName(status.role)
        response.leaderID = status.leader
        response.leaderName = status.leader == noNode ? "" : registry.name(of: status.leader) ?? "node \(status.leader)"
        response.term = status.term
        response.commitIndex = status.commitIndex
        response.appliedIndex = status.appliedIndex
        response.firstIndex = status.firstIndex
        response.clusterIdentity = registry.identity.map { String(format: "%02x", $0) }.joined()
        let progress = Dictionary(uniqueKeysWithValues: status.replication.map { ($0.node, $0) })
        var ids = Set(status.voters)
        for member in registry.members where !member.removed { ids.insert(member.id) }
        response.members = ids.sorted().map { id in
            let member = registry.member(id)
            var entry = Lineage_Api_V1_ClusterMemberStatus()
            entry.nodeID = id
            entry.name = member?.name ?? ""
            entry.address = (id == registry.selfID ? member?.address ?? selfAddress : member?.address) ?? ""
            entry.voter = status.voters.contains(id)
            entry.leader = id == status.leader
            entry.self_p = id == registry.selfID
            if let peer = progress[id] {
                entry.hasProgress_p = true
                entry.matchIndex = peer.match
                entry.nextIndex = peer.next
                // The leader does not track its own activity; it is active by definition.
                entry.recentlyActive = peer.recentActive || id == registry.selfID
                entry.replicationState = peer.state.rawValue
            }
            return entry
        }
        return response
    }
}
