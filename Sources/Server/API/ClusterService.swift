import Consensus
import Foundation
import GRPCCore
import IdentityModel
import Logging
import SPIFFE
import Wire

/// `lineage.api.v1.Cluster` on the TLS listener: Raft messages and forwarded writes from the
/// other members. A caller must present the server SVID and name a member that agrees on the
/// membership; anything else is refused before a message is stepped or an event appended.
struct ClusterService: Lineage_Api_V1_Cluster.SimpleServiceProtocol {
    let log: IdentityLog
    let membership: ClusterMembership
    let serverID: SPIFFEID
    let snapshots: SnapshotReceiver

    func step(request: Lineage_Api_V1_StepRequest, context: ServerContext) async throws -> Lineage_Api_V1_StepResponse {
        let sender = try authorize(request.hasSender ? request.sender : nil)
        guard request.messages.count <= Limits.stepBatchMessagesMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Limits.stepBatchMessagesMax) messages per request")
        }
        // Decoded and checked whole before any is stepped: a batch is taken or refused as one.
        var messages: [Message] = []
        messages.reserveCapacity(request.messages.count)
        for data in request.messages {
            let message: Message
            do {
                message = try Message(decoding: Array(data))
            } catch {
                throw RPCError(code: .invalidArgument, message: "a Raft message does not decode: \(error)")
            }
            guard message.from == sender.id, message.to == membership.selfID else {
                throw RPCError(code: .invalidArgument, message: """
                    a message from node \(message.from) to node \(message.to) arrived from \(sender.name) \
                    (node \(sender.id)) at node \(membership.selfID)
                    """)
            }
            messages.append(message)
        }
        for message in messages { log.receive(message) }
        return Lineage_Api_V1_StepResponse()
    }

    func forward(request: Lineage_Api_V1_ForwardRequest, context: ServerContext) async throws -> Lineage_Api_V1_ForwardResponse {
        _ = try authorize(request.hasSender ? request.sender : nil)
        guard request.requestClient != 0 else { throw RPCError(code: .invalidArgument, message: "a forwarded write needs a request ID") }
        var response = Lineage_Api_V1_ForwardResponse()
        do {
            response.index = try await log.appendForwarded(
                Array(request.event), requestID: RequestID(client: request.requestClient, sequence: request.requestSequence))
        } catch LogDriver<ProjectionApplier>.ProposalError.notLeader(let leader) {
            response.notLeader = true
            response.leaderHint = membership.member(leader)?.name.rawValue ?? ""
        } catch let error as LogDriver<ProjectionApplier>.ProposalError {
            throw error.rpcError
        }
        return response
    }

    func readIndex(request: Lineage_Api_V1_ReadIndexRequest, context: ServerContext) async throws -> Lineage_Api_V1_ReadIndexResponse {
        _ = try authorize(request.hasSender ? request.sender : nil)
        var response = Lineage_Api_V1_ReadIndexResponse()
        do {
            response.index = try await log.readIndexForPeer()
        } catch LogDriver<ProjectionApplier>.ProposalError.notLeader(let leader) {
            response.notLeader = true
            response.leaderHint = membership.member(leader)?.name.rawValue ?? ""
        } catch let error as LogDriver<ProjectionApplier>.ProposalError {
            throw error.rpcError
        } catch let error as LogDriver<ProjectionApplier>.ReadIndexTimedOut {
            throw RPCError(code: .unavailable, message: "\(error)")
        }
        return response
    }

    func installSnapshot(
        request: RPCAsyncSequence<Lineage_Api_V1_SnapshotChunk, any Error>, context: ServerContext
    ) async throws -> Lineage_Api_V1_InstallSnapshotResponse {
        let message: Message
        do {
            message = try await snapshots.receive(request, selfID: membership.selfID) { first in
                try authorize(first.hasSender ? first.sender : nil).id
            }
        } catch let refused as SnapshotReceiver.Refused {
            log.logger.warning("Raft snapshot stream refused; nothing was installed", metadata: ["reason": "\(refused)"])
            throw RPCError(code: .invalidArgument, message: refused.description)
        }
        log.logger.info("Raft snapshot received whole; installing it", metadata: [
            "from": "\(membership.member(message.from)?.name.rawValue ?? "\(message.from)")",
            "index": "\(message.snapshot?.metadata.index ?? 0)", "bytes": "\(message.snapshot?.data.count ?? 0)",
        ])
        log.receive(message)
        return Lineage_Api_V1_InstallSnapshotResponse()
    }

    /// The calling member; PermissionDenied for anyone without the server SVID or not a member.
    private func authorize(_ sender: Lineage_Api_V1_ClusterSender?) throws(RPCError) -> ClusterMembership.Member {
        guard let (id, _) = TLSPeerIdentity.verifiedClient(in: CallerInterceptor.metadata), id == serverID else {
            throw RPCError(code: .permissionDenied, message: "only cluster members (\(serverID)) may use the cluster protocol")
        }
        guard let sender, let member = membership.member(named: sender.nodeName), member.id != membership.selfID else {
            throw RPCError(code: .permissionDenied, message: "\"\(sender?.nodeName ?? "")\" is not a member of this cluster")
        }
        guard Array(sender.membershipFingerprint) == membership.fingerprint else {
            throw RPCError(code: .failedPrecondition, message: """
                \(sender.nodeName) is configured with a different member list than this server \
                (\(membership.members.map(\.name.rawValue).joined(separator: ", ")))
                """)
        }
        return member
    }
}

extension LogDriver.ProposalError {
    /// How a refused or failed append reaches an API caller: the write can be retried unless
    /// it is too large.
    var rpcError: RPCError {
        switch self {
        case .notLeader: RPCError(code: .unavailable, message: "this server is not the leader")
        case .overloaded: RPCError(code: .unavailable, message: "the log is overloaded; retry later")
        case .outcomeUnknown: RPCError(code: .unavailable, message: "leadership moved before the write committed; it may or may not have been applied")
        case .stopped: RPCError(code: .unavailable, message: "the log has stopped")
        case .tooLarge: RPCError(code: .invalidArgument, message: "the event is larger than \(Consensus.Limits.proposalBytesMax) bytes")
        }
    }
}
