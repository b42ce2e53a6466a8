import Consensus
import Crypto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import NIOSSL
import SPIFFE
import Synchronization
import Wire
import X509

/// The way to one other member: a long-lived gRPC client over mutual TLS, and a bounded queue
/// of Raft messages that one task sends in order, in batches.
///
/// Messages beyond the queue's bounds are dropped, and so is a batch whose RPC fails: Raft
/// retransmits (heartbeats, probes, re-sent appends), and a queue that grows while a peer is
/// down would only deliver stale messages later.
final class PeerLink: Sendable {
    let member: ClusterMembership.Member
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let sender: Lineage_Api_V1_ClusterSender
    private let logger: Logger
    /// Called when the peer refuses this server as removed from the cluster.
    private let onRemoved: @Sendable () -> Void

    private struct Queue {
        var messages: [[UInt8]] = []
        var bytes = 0
        /// Dropped since the last report, for one log line per failure streak, not per message.
        var dropped = 0
    }

    private let queue = Mutex(Queue())
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>

    /// Snapshots stream on their own task, so a large one does not hold up heartbeats. At most
    /// one waits (the newest: an older one would only be replaced by the follower's next need).
    private struct SnapshotSlot {
        var pending: Message?
        /// The snapshot index being streamed now; a re-send of the same one is dropped.
        var streaming: Consensus.LogIndex?
    }

    private let snapshots = Mutex(SnapshotSlot())
    private let snapshotWake: AsyncStream<Void>.Continuation
    private let snapshotWakeups: AsyncStream<Void>

    init(
        member: ClusterMembership.Member, sender: Lineage_Api_V1_ClusterSender, identity: ClusterTLS, logger: Logger,
        onRemoved: @escaping @Sendable () -> Void = {}
    ) throws {
        guard let address = member.address else { preconditionFailure("no link to this server itself") }
        self.member = member
        self.sender = sender
        self.logger = logger
        self.onRemoved = onRemoved
        client = GRPCClient(transport: try Self.transport(to: address, identity: identity))
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        (snapshotWakeups, snapshotWake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// A client transport to a member's TLS listener, presenting this server's SVID.
    static func transport(to address: PeerAddress, identity: ClusterTLS) throws -> HTTP2ClientTransport.Posix {
        var config = HTTP2ClientTransport.Posix.Config.defaults
        // TLS is set up per connection from the current server SVID and bundle (both rotate),
        // which grpc-swift's static TLS configuration cannot do.
        config.channelDebuggingCallbacks.onCreateTCPConnection = { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try identity.clientHandler(), position: .first)
            }
        }
        config.backoff.max = .seconds(2)
        return try HTTP2ClientTransport.Posix(target: address.target, transportSecurity: .customSecure, config: config)
    }

    /// Queues a Raft snapshot message for streaming without waiting. The core re-sends a
    /// snapshot after an election timeout without an answer; while that same snapshot is still
    /// streaming, the re-send is dropped instead of starting a second copy.
    func enqueueSnapshot(_ message: Message) {
        precondition(message.kind == .snapshot && message.snapshot != nil, "only snapshot messages stream")
        let queued = snapshots.withLock { slot -> Bool in
            if slot.streaming == message.snapshot?.metadata.index { return false }
            slot.pending = message
            return true
        }
        if queued { snapshotWake.yield() }
    }

    /// Queues messages for this peer without waiting; drops what does not fit.
    func enqueue(_ messages: [Message]) {
        let encoded = messages.map { $0.encoded() }
        queue.withLock { queue in
            for bytes in encoded {
                guard bytes.count <= Limits.raftMessageBytesMax,
                      queue.messages.count < Limits.peerQueueMessagesMax,
                      queue.bytes + bytes.count <= Limits.peerQueueBytesMax
                else {
                    queue.dropped += 1
                    continue
                }
                queue.messages.append(bytes)
                queue.bytes += bytes.count
            }
        }
        wake.yield()
    }

    /// Keeps the connection and sends queued messages until cancelled.
    func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.client.runConnections() }
            group.addTask { await self.sendSnapshots() }
            await sendQueued()  // until cancelled
            snapshotWake.finish()
            client.beginGracefulShutdown()
        }
    }

    private func sendQueued() async {
        let stub = Lineage_Api_V1_Cluster.Client(wrapping: client)
        var options = CallOptions.defaults
        options.timeout = Limits.stepTimeout
        // Fail fast while the peer is down rather than queue behind a connection attempt.
        options.waitForReady = false
        var failing = false
        for await _ in wakeups {
            while let batch = takeBatch() {
                var request = Lineage_Api_V1_StepRequest()
                request.sender = sender
                request.messages = batch.map { Data($0) }
                do {
                    _ = try await stub.step(request, options: options)
                    if failing { logger.info("Cluster peer reachable again", metadata: ["peer": "\(member.name)"]) }
                    failing = false
                } catch {
                    if let refusal = error as? RPCError, refusal.code == .failedPrecondition,
                       refusal.message.hasPrefix(ClusterService.removedMarker) {
                        onRemoved()
                    }
                    if !failing {
                        logger.warning("Cluster peer unreachable; dropping its Raft messages until it answers", metadata: [
                            "peer": "\(member.name)", "error": "\(error)",
                        ])
                    }
                    failing = true
                    // Raft retransmits; pause so a down peer does not cost a busy loop.
                    try? await Task.sleep(for: .milliseconds(100))
                }
                if Task.isCancelled { return }
            }
        }
    }

    /// The oldest queued messages, up to one Step request's bounds; nil when none are queued.
    private func takeBatch() -> [[UInt8]]? {
        queue.withLock { queue in
            guard !queue.messages.isEmpty else { return nil }
            var count = 0
            var bytes = 0
            while count < queue.messages.count, count < Limits.stepBatchMessagesMax,
                  count == 0 || bytes + queue.messages[count].count <= Limits.stepBatchBytesMax {
                bytes += queue.messages[count].count
                count += 1
            }
            let batch = Array(queue.messages.prefix(count))
            queue.messages.removeFirst(count)
            queue.bytes -= bytes
            precondition(queue.bytes >= 0 && (queue.bytes == 0) == queue.messages.isEmpty, "queue bytes track its messages")
            return batch
        }
    }

    private func sendSnapshots() async {
        let stub = Lineage_Api_V1_Cluster.Client(wrapping: client)
        for await _ in snapshotWakeups {
            while let message = snapshots.withLock({ slot -> Message? in
                defer { slot.pending = nil }
                slot.streaming = slot.pending?.snapshot?.metadata.index
                return slot.pending
            }) {
                await stream(message, stub: stub)
                snapshots.withLock { $0.streaming = nil }
                if Task.isCancelled { return }
            }
        }
    }

    /// Streams one snapshot; a failure is logged and dropped (the core sends it again).
    private func stream(_ message: Message, stub: Lineage_Api_V1_Cluster.Client<HTTP2ClientTransport.Posix>) async {
        guard let snapshot = message.snapshot else { return }
        let data = snapshot.data
        let metadata: Logger.Metadata = [
            "peer": "\(member.name)", "index": "\(snapshot.metadata.index)", "bytes": "\(data.count)",
        ]
        guard data.count <= Limits.snapshotBytesMax else {
            logger.error("Raft snapshot larger than the streaming limit; the peer cannot catch up", metadata: metadata)
            return
        }
        var header = message
        header.snapshot?.data = []
        var first = Lineage_Api_V1_SnapshotChunk()
        first.sender = sender
        first.header = Data(header.encoded())
        first.totalBytes = UInt64(data.count)
        first.sha256 = Data(SHA256.hash(data: data))
        var options = CallOptions.defaults
        options.timeout = Limits.snapshotStreamTimeout(bytes: data.count)
        options.waitForReady = false
        let started = ContinuousClock.now
        let firstChunk = first
        do {
            _ = try await stub.installSnapshot(options: options) { writer in
                try await writer.write(firstChunk)
                var offset = 0
                while offset < data.count {
                    let end = min(offset + Limits.snapshotChunkBytesMax, data.count)
                    var chunk = Lineage_Api_V1_SnapshotChunk()
                    chunk.data = Data(data[offset..<end])
                    try await writer.write(chunk)
                    offset = end
                }
            }
            logger.info("Raft snapshot streamed to peer", metadata: metadata.merging(
                ["duration": "\(ContinuousClock.now - started)"], uniquingKeysWith: { $1 }))
        } catch {
            logger.warning("Raft snapshot stream to peer failed; it is sent again later", metadata: metadata.merging(
                ["error": "\(error)"], uniquingKeysWith: { $1 }))
        }
    }

    /// Asks this peer (the leader) for a read index; nil when it does not lead.
    func readIndex() async throws -> UInt64? {
        var request = Lineage_Api_V1_ReadIndexRequest()
        request.sender = sender
        var options = CallOptions.defaults
        options.timeout = Limits.readIndexTimeout
        options.waitForReady = false
        let response = try await Lineage_Api_V1_Cluster.Client(wrapping: client).readIndex(request, options: options)
        if response.notLeader { return nil }
        guard response.index > 0 else { throw RPCError(code: .internalError, message: "the leader answered without a read index") }
        return response.index
    }

    /// Asks this peer (the leader) to append an encoded event.
    func forward(_ data: [UInt8], requestID: RequestID) async throws -> IdentityLog.Replication.ForwardReply {
        var request = Lineage_Api_V1_ForwardRequest()
        request.sender = sender
        request.event = Data(data)
        request.requestClient = requestID.client
        request.requestSequence = requestID.sequence
        var options = CallOptions.defaults
        options.timeout = Limits.forwardTimeout
        options.waitForReady = false
        let response = try await Lineage_Api_V1_Cluster.Client(wrapping: client).forward(request, options: options)
        if response.notLeader { return .notLeader }
        guard response.index > 0 else { throw RPCError(code: .internalError, message: "the leader answered without an index") }
        return .committed(response.index)
    }
}

extension PeerAddress {
    var target: any ResolvableTarget {
        if host.contains(":") { return .ipv6(address: host, port: port) }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(address: host, port: port)
        }
        return .dns(host: host, port: port)
    }
}
