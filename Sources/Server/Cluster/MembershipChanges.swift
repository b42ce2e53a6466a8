import Consensus
import Foundation
import GRPCCore
import IdentityModel
import Logging
import SPIFFE
import Wire

/// Adds and removes members: on the leader by appending a configuration change (with the
/// member's record as its context), elsewhere by asking the leader over `ClusterMembers`.
/// The core allows one change at a time; a second one while the first is unapplied fails with
/// FailedPrecondition.
struct MembershipChanges: Sendable {
    let log: IdentityLog
    let transport: ClusterTransport
    var registry: MemberRegistry { transport.registry }

    struct Done: Sendable {
        var id: NodeID
        var index: UInt64
        /// The leader's first log index: above 1, a new member needs a snapshot.
        var firstIndex: UInt64
    }

    /// Adds `name` at `address` as a voter. Idempotent for a member already added with the same
    /// address (a joiner retrying after a lost answer).
    func add(name: String, address: String) async throws -> Done {
        do {
            _ = try NodeName(name)
        } catch {
            throw RPCError(code: .invalidArgument, message: "node name \"\(name)\": \(error)")
        }
        do {
            _ = try PeerAddress(parsing: address)
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(error)")
        }
        var request = Lineage_Api_V1_MembershipChangeRequest()
        request.name = name
        request.address = address
        return try await change(request)
    }

    func remove(name: String) async throws -> Done {
        var request = Lineage_Api_V1_MembershipChangeRequest()
        request.remove = true
        request.name = name
        return try await change(request)
    }

    /// On the leader: does it; elsewhere: asks the leader, retrying while none is known.
    private func change(_ request: Lineage_Api_V1_MembershipChangeRequest) async throws -> Done {
        let deadline = ContinuousClock.now + Limits.leaderWait
        while true {
            let status = log.status
            if status.role == .leader {
                do {
                    return try await onLeader(request)
                } catch LogDriver<ProjectionApplier>.ProposalError.notLeader {
                    // Leadership moved between the check and the proposal; ask the new one.
                }
            } else if status.leader != noNode {
                let response = try await transport.changeMembership(at: status.leader, request)
                if !response.notLeader {
                    return Done(id: response.nodeID, index: response.index, firstIndex: response.firstIndex)
                }
            }
            guard ContinuousClock.now < deadline else {
                throw RPCError(code: .unavailable, message: "no leader answered within \(Limits.leaderWait); the change was not made")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The leader's side; throws `notLeader` when this server does not lead.
    func onLeader(_ request: Lineage_Api_V1_MembershipChangeRequest) async throws -> Done {
        let change: ConfigurationChange
        let status = log.status
        guard status.role == .leader else { throw LogDriver<ProjectionApplier>.ProposalError.notLeader(leader: status.leader) }
        if request.remove {
            guard let member = registry.member(named: request.name), !member.removed, status.voters.contains(member.id) else {
                throw RPCError(code: .notFound, message: "no member of this cluster is named \"\(request.name)\"")
            }
            change = ConfigurationChange(
                .removeVoter, node: member.id, context: MemberRegistry.Record(name: member.name, address: member.address).encoded())
        } else {
            guard (try? NodeName(request.name)) != nil, (try? PeerAddress(parsing: request.address)) != nil else {
                throw RPCError(code: .invalidArgument, message: "a new member needs a node name and a host:port address")
            }
            if let existing = registry.member(named: request.name), !existing.removed, status.voters.contains(existing.id) {
                guard existing.address == request.address else {
                    throw RPCError(code: .alreadyExists, message: """
                        \(request.name) is already a member (node \(existing.id) at \(existing.address ?? "an unknown address")); \
                        remove it first (cluster leave -name \(request.name))
                        """)
                }
                return Done(id: existing.id, index: 0, firstIndex: status.firstIndex)
            }
            change = ConfigurationChange(
                .addVoter, node: registry.nextID(),
                context: MemberRegistry.Record(name: request.name, address: request.address).encoded())
        }
        let index: UInt64
        do {
            // Ends when the change is applied, or fails when this server stops leading (a leader
            // that loses its quorum steps down within an election timeout): never hangs.
            index = try await log.proposeConfigurationChange(change)
        } catch let error as LogDriver<ProjectionApplier>.ProposalError {
            if case .notLeader = error { throw error }
            throw error.rpcError
        }
        log.logger.info(request.remove ? "Cluster member removed" : "Cluster member added", metadata: [
            "node_name": "\(request.name)", "node_id": "\(change.node)", "index": "\(index)",
        ])
        return Done(id: change.node, index: index, firstIndex: log.status.firstIndex)
    }
}

/// `lineage.api.v1.ClusterMembers` on the TLS listener: a new server's join request (it proves
/// membership of the trust domain's servers with an SVID for the server ID signed by the shared
/// upstream, as at bootstrap), and members asking the leader to make a change.
struct ClusterMembersService: Lineage_Api_V1_ClusterMembers.SimpleServiceProtocol {
    let changes: MembershipChanges
    let serverID: SPIFFEID
    /// This server's own address as configured (advertise_address or bind), if known.
    let selfAddress: String?

    func join(request: Lineage_Api_V1_MemberJoinRequest, context: ServerContext) async throws -> Lineage_Api_V1_MemberJoinResponse {
        guard let (id, _) = TLSPeerIdentity.verifiedClient(in: CallerInterceptor.metadata), id == serverID else {
            throw RPCError(code: .permissionDenied, message: "only servers of this trust domain (\(serverID)) may join the cluster")
        }
        let registry = changes.registry
        guard !registry.selfRemoved else {
            throw RPCError(code: .failedPrecondition, message: "this server (\(registry.selfName)) was removed from the cluster")
        }
        let done = try await changes.add(name: request.nodeName, address: request.address)
        var response = Lineage_Api_V1_MemberJoinResponse()
        response.nodeID = done.id
        response.bootstrapMembers = registry.bootstrapNames
        response.clusterIdentity = Data(registry.identity)
        response.responder = registry.selfName.rawValue
        response.leaderFirstIndex = done.firstIndex
        var members = registry.members
        if let own = members.firstIndex(where: { $0.id == registry.selfID }), members[own].address == nil {
            members[own].address = selfAddress
        }
        if !members.contains(where: { $0.id == done.id }) {
            // This follower has not appended the change yet; the joiner needs itself listed.
            members.append(.init(id: done.id, name: request.nodeName, address: request.address, removed: false))
        }
        response.members = members.map { member in
            var record = Lineage_Api_V1_MemberRecord()
            record.nodeID = member.id
            record.name = member.name
            record.address = member.address ?? ""
            record.removed = member.removed
            return record
        }
        return response
    }

    func changeMembership(request: Lineage_Api_V1_MembershipChangeRequest, context: ServerContext) async throws
        -> Lineage_Api_V1_MembershipChangeResponse
    {
        _ = try ClusterService.authorize(
            name: request.sender, identity: Array(request.clusterIdentity), registry: changes.registry,
            status: changes.log.status, serverID: serverID)
        var response = Lineage_Api_V1_MembershipChangeResponse()
        do {
            let done = try await changes.onLeader(request)
            response.nodeID = done.id
            response.index = done.index
            response.firstIndex = done.firstIndex
        } catch LogDriver<ProjectionApplier>.ProposalError.notLeader {
            response.notLeader = true
        }
        return response
    }
}
