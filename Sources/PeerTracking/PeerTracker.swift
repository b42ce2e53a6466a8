import GRPCCore
import GRPCNIOTransportCore
import NIOCore
import NIOHPACK
import NIOHTTP2
import Synchronization

/// Tells every Workload API and SDS handler which process is calling, as the kernel says it.
///
/// grpc-swift-2 does not hand handlers the peer of a Unix socket connection (shared/reference/
/// BUILD-NOTES.md), so the tracker works below gRPC:
/// 1. When a connection is accepted it reads `SO_PEERCRED` (pid, uid, gid fixed at `connect()`)
///    and `SO_PEERPIDFD` (a descriptor for that exact process, immune to PID reuse), and files
///    them under a fresh random token. The entry is dropped, and the pidfd closed, when the
///    connection closes.
/// 2. For every HTTP/2 stream on that connection it places a handler in front of gRPC that
///    deletes any `lineage-peer-connection` header the client sent and adds the true token, so
///    nothing a client sends can name another connection.
/// 3. A handler calls `peer(for:)` with the request metadata.
public final class PeerTracker: Sendable {
    /// The metadata key that carries the connection token to handlers.
    public static let metadataKey = "lineage-peer-connection"

    private let connections = Mutex<[UInt64: PeerConnection]>([:])
    private let connectionsMax: Int

    public init(connectionsMax: Int = 16_384) {
        self.connectionsMax = connectionsMax
    }

    /// Callbacks to install in the server transport's configuration.
    public var channelCallbacks: HTTP2ServerTransport.Config.ChannelDebuggingCallbacks {
        HTTP2ServerTransport.Config.ChannelDebuggingCallbacks(
            onBindTCPListener: nil,
            onAcceptTCPConnection: { [self] channel in self.accept(channel) },
            onAcceptHTTP2Stream: { [self] stream in self.tagStream(stream) }
        )
    }

    /// The connection a request arrived on, or nil when it cannot be told (a request that did
    /// not come through a tracked transport).
    public func peer(for metadata: Metadata) -> PeerConnection? {
        let values = Array(metadata[stringValues: Self.metadataKey])
        guard values.count == 1, let token = UInt64(values[0]) else { return nil }
        return connections.withLock { $0[token] }
    }

    /// Live tracked connections (for tests and metrics).
    public var connectionCount: Int { connections.withLock { $0.count } }

    private func accept(_ channel: any Channel) -> EventLoopFuture<Void> {
        PeerConnection.read(from: channel).flatMap { [self] connection in
            let token = self.connections.withLock { table -> UInt64? in
                guard table.count < self.connectionsMax else { return nil }
                var token = UInt64.random(in: 1...UInt64.max)
                while table[token] != nil { token = UInt64.random(in: 1...UInt64.max) }
                table[token] = connection
                return token
            }
            guard let token else {
                return channel.eventLoop.makeFailedFuture(PeerTrackingError.tooManyConnections)
            }
            channel.closeFuture.whenComplete { [self] _ in
                _ = self.connections.withLock { $0.removeValue(forKey: token) }
            }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(ConnectionTokenHandler(token: token), position: .first)
            }
        }.flatMapError { error in
            // A peer we cannot identify cannot be attested: refuse the connection outright.
            channel.close().flatMapThrowing { throw error }
        }
    }

    private func tagStream(_ stream: any Channel) -> EventLoopFuture<Void> {
        guard let parent = stream.parent else {
            return stream.eventLoop.makeFailedFuture(PeerTrackingError.untrackedConnection)
        }
        return parent.pipeline.handler(type: ConnectionTokenHandler.self).hop(to: stream.eventLoop)
            .flatMapThrowing { tokenHandler in
                try stream.pipeline.syncOperations.addHandler(
                    PeerHeaderInjector(token: tokenHandler.token), position: .first)
            }
    }
}

public enum PeerTrackingError: Error, Sendable {
    case tooManyConnections
    case untrackedConnection
    case credentialsUnavailable(errno: Int32)
}

/// Marks a connection channel with its token so its streams can find it.
final class ConnectionTokenHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = Any
    let token: UInt64
    init(token: UInt64) { self.token = token }
}

/// Sits in front of gRPC's stream handler and makes the connection-token header trustworthy.
final class PeerHeaderInjector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let token: String
    private var injected = false

    init(token: UInt64) { self.token = String(token) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var payload = unwrapInboundIn(data)
        if case .headers(var headers) = payload {
            headers.headers.remove(name: PeerTracker.metadataKey)
            if !injected {
                headers.headers.add(name: PeerTracker.metadataKey, value: token)
                injected = true
            }
            payload = .headers(headers)
        }
        context.fireChannelRead(wrapInboundOut(payload))
    }
}
