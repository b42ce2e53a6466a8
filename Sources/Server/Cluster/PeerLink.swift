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
/// Messages beyond the queue's bounds are dropped, and so is a batch whose stream fails: Raft
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
    /// Between a failed send and the next delivered batch, for one log line per streak.
    private let failing = Atomic<Bool>(false)
    /// When (uptime, ns) the send now waiting on the step stream began; 0 while none waits.
    private let sendWaitingSince = Atomic<UInt64>(0)
    private let wake = WakeSignal()

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
        // Step streams stay open for as long as the link: a peer that vanished without closing
        // the connection (a partition, a frozen host) must fail them, so they reopen elsewhere.
        config.connection.keepalive = .init(
            time: Limits.peerKeepaliveInterval, timeout: Limits.peerKeepaliveTimeout, allowWithoutCalls: false)
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
        wake.signal()
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

    /// Sends queued messages on one long-lived `StepStream` call, opened when there is
    /// something to send and again after it fails.
    private func sendQueued() async {
        let stub = Lineage_Api_V1_Cluster.Client(wrapping: client)
        var options = CallOptions.defaults
        // The stream lives as long as the link. A send that waits too long ends it
        // (`streamSteps`), and HTTP/2 keepalive fails it when the peer vanished while idle.
        options.timeout = nil
        // Fail fast while the peer is down rather than queue behind a connection attempt.
        options.waitForReady = false
        while await wake.wait() {
            guard queue.withLock({ !$0.messages.isEmpty }) else { continue }
            do {
                try await streamSteps(stub, options: options)
            } catch {
                if let refusal = error as? RPCError, refusal.code == .failedPrecondition,
                   refusal.message.hasPrefix(ClusterService.removedMarker) {
                    onRemoved()
                }
                if !failing.exchange(true, ordering: .relaxed) {
                    logger.warning("Cluster peer unreachable; dropping its Raft messages until it answers", metadata: [
                        "peer": "\(member.name)", "error": "\(error)",
                    ])
                }
                // Raft retransmits; pause so a down peer does not cost a busy loop.
                try? await Task.sleep(for: .milliseconds(100))
                wake.signal()
            }
            if Task.isCancelled { return }
        }
    }

    /// One step stream, until it fails or a send on it waits longer than `Limits.stepTimeout`
    /// (opening it included: a connection attempt that hangs must not hold the link).
    private func streamSteps(
        _ stub: Lineage_Api_V1_Cluster.Client<HTTP2ClientTransport.Posix>, options: CallOptions
    ) async throws {
        sendWaitingSince.store(Self.uptimeNanoseconds(), ordering: .relaxed)
        defer { sendWaitingSince.store(0, ordering: .relaxed) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try await stub.stepStream(options: options) { writer in
                    var request = Lineage_Api_V1_StepRequest()
                    request.sender = self.sender
                    repeat {
                        while let batch = self.takeBatch() {
                            request.messages = batch.map { Data($0) }
                            if self.sendWaitingSince.load(ordering: .relaxed) == 0 {
                                self.sendWaitingSince.store(Self.uptimeNanoseconds(), ordering: .relaxed)
                            }
                            try await writer.write(request)
                            self.sendWaitingSince.store(0, ordering: .relaxed)
                            // The receiver knows the sender from the stream's first request.
                            request.clearSender()
                            self.delivered()
                        }
                    } while await self.wake.wait()
                }
            }
            group.addTask {
                let limit = UInt64(Limits.stepTimeout.components.seconds) * 1_000_000_000
                    + UInt64(Limits.stepTimeout.components.attoseconds / 1_000_000_000)
                while true {
                    try await Task.sleep(for: Limits.stepTimeout / 4)
                    let since = self.sendWaitingSince.load(ordering: .relaxed)
                    if since != 0, Self.uptimeNanoseconds() &- since > limit { throw StepStreamStalled() }
                }
            }
            defer { group.cancelAll() }
            // Either ends only by failing (the stream lives until the link is cancelled).
            try await group.next()
        }
    }

    struct StepStreamStalled: Error, CustomStringConvertible {
        var description: String { "a send on the step stream waited longer than \(Limits.stepTimeout)" }
    }

    private static func uptimeNanoseconds() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// A batch left this server: a failure streak, if any, is over.
    private func delivered() {
        if failing.exchange(false, ordering: .relaxed) {
            logger.info("Cluster peer reachable again", metadata: ["peer": "\(member.name)"])
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
