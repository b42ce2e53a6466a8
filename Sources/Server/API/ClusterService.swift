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
    let registry: MemberRegistry
    let serverID: SPIFFEID
    let snapshots: SnapshotReceiver

    /// How a refusal of a removed member starts; its `PeerLink` recognises it.
    static let removedMarker = "removed from the cluster:"

    func step(request: Lineage_Api_V1_StepRequest, context: ServerContext) async throws -> Lineage_Api_V1_StepResponse {
        let sender = try authorize(request.hasSender ? request.sender : nil)
        for message in try decode(request, from: sender) { log.receive(message) }
        return Lineage_Api_V1_StepResponse()
    }

    func stepStream(
        request: RPCAsyncSequence<Lineage_Api_V1_StepRequest, any Error>, context: ServerContext
    ) async throws -> Lineage_Api_V1_StepResponse {
        // The TLS identity cannot change within a stream: checked once. Membership is checked
        // for every batch: a member removed while its stream is open is refused from its next
        // batch on.
        try Self.requireServerCaller(serverID)
        var caller: (name: String, identity: [UInt8])?
        for try await batch in request {
            let named: (name: String, identity: [UInt8])
            if let caller {
                named = caller
            } else {
                guard batch.hasSender else {
                    throw RPCError(code: .invalidArgument, message: "the first request of a step stream names its sender")
                }
                named = (batch.sender.nodeName, Array(batch.sender.membershipFingerprint))
                caller = named
            }
            let sender = try Self.member(name: named.name, identity: named.identity, registry: registry, status: log.status)
            for message in try decode(batch, from: sender) { log.receive(message) }
        }
        return Lineage_Api_V1_StepResponse()
    }

    /// A batch's Raft messages, decoded and checked whole before any is stepped: a batch is
    /// taken or refused as one.
    private func decode(_ request: Lineage_Api_V1_StepRequest, from sender: MemberRegistry.Member) throws(RPCError) -> [Message] {
        guard request.messages.count <= Limits.stepBatchMessagesMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Limits.stepBatchMessagesMax) messages per request")
        }
        var messages: [Message] = []
        messages.reserveCapacity(request.messages.count)
        for data in request.messages {
            let message: Message
            do {
                message = try Message(decoding: Array(data))
            } catch {
                throw RPCError(code: .invalidArgument, message: "a Raft message does not decode: \(error)")
            }
            guard message.from == sender.id, message.to == registry.selfID else {
                throw RPCError(code: .invalidArgument, message: """
                    a message from node \(message.from) to node \(message.to) arrived from \(sender.name) \
                    (node \(sender.id)) at node \(registry.selfID)
                    """)
            }
            messages.append(message)
        }
        return messages
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
            response.leaderHint = registry.name(of: leader) ?? ""
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
            response.leaderHint = registry.name(of: leader) ?? ""
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
            message = try await snapshots.receive(request, selfID: registry.selfID) { first in
                try authorize(first.hasSender ? first.sender : nil).id
            }
        } catch let refused as SnapshotReceiver.Refused {
            log.logger.warning("Raft snapshot stream refused; nothing was installed", metadata: ["reason": "\(refused)"])
            throw RPCError(code: .invalidArgument, message: refused.description)
        }
        log.logger.info("Raft snapshot received whole; installing it", metadata: [
            "from": "\(registry.name(of: message.from) ?? "\(message.from)")",
            "index": "\(message.snapshot?.metadata.index ?? 0)", "bytes": "\(message.snapshot?.data.count ?? 0)",
        ])
        log.receive(message)
        return Lineage_Api_V1_InstallSnapshotResponse()
    }

    /// The calling member; PermissionDenied for anyone without the server SVID or not a member.
    private func authorize(_ sender: Lineage_Api_V1_ClusterSender?) throws(RPCError) -> MemberRegistry.Member {
        try Self.authorize(
            name: sender?.nodeName ?? "", identity: sender.map { Array($0.membershipFingerprint) } ?? [],
            registry: registry, status: log.status, serverID: serverID)
    }

    /// The checks every member-to-member call passes: the caller presents the server SVID,
    /// names a member of this cluster (same identity), and was not removed from it.
    static func authorize(
        name: String, identity: [UInt8], registry: MemberRegistry, status: LogDriver<ProjectionApplier>.Status, serverID: SPIFFEID
    ) throws(RPCError) -> MemberRegistry.Member {
        try requireServerCaller(serverID)
        return try member(name: name, identity: identity, registry: registry, status: status)
    }

    /// The caller's TLS client certificate is a server SVID of this trust domain.
    static func requireServerCaller(_ serverID: SPIFFEID) throws(RPCError) {
        guard let (id, _) = TLSPeerIdentity.verifiedClient(in: CallerInterceptor.metadata), id == serverID else {
            throw RPCError(code: .permissionDenied, message: "only cluster members (\(serverID)) may use the cluster protocol")
        }
    }

    /// The member a server caller names, when it is one that may talk to this server now.
    static func member(
        name: String, identity: [UInt8], registry: MemberRegistry, status: LogDriver<ProjectionApplier>.Status
    ) throws(RPCError) -> MemberRegistry.Member {
        guard let member = registry.member(named: name), member.id != registry.selfID else {
            throw RPCError(code: .permissionDenied, message: "\"\(name)\" is not a member of this cluster")
        }
        guard identity == registry.identity else {
            throw RPCError(code: .failedPrecondition, message: """
                \(name) belongs to a cluster with other bootstrap members than this server's \
                (\(registry.bootstrapNames.joined(separator: ", ")))
                """)
        }
        guard !registry.selfRemoved else {
            throw RPCError(code: .failedPrecondition, message: "this server (\(registry.selfName)) was removed from the cluster")
        }
        // A removed member that has not learned it (the leader stops replicating to it) would
        // campaign forever; refusing it tells it. While it still leads here (handing over after
        // removing itself) its messages are needed.
        if member.removed && !status.voters.contains(member.id) && status.leader != member.id {
            throw RPCError(code: .failedPrecondition, message: "\(removedMarker) \(name) (node \(member.id)) is no longer a member")
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
        case .configurationChangeRefused(let reason):
            switch reason {
            case .configurationChangeInProgress:
                RPCError(code: .failedPrecondition, message: "another membership change is in progress; retry once it has been applied")
            case .leaderNotReady:
                RPCError(code: .unavailable, message: "the leader has not yet committed an entry in its term; retry shortly")
            case .transferInProgress:
                RPCError(code: .unavailable, message: "a leadership transfer is in progress; retry shortly")
            case .invalidConfigurationChange:
                RPCError(code: .failedPrecondition, message: "the change does not fit the configuration (a member twice, or the last voter)")
            default:
                RPCError(code: .unavailable, message: "the membership change was refused: \(reason)")
            }
        }
    }
}
