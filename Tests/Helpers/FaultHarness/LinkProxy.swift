import NIOCore
import NIOPosix
import Synchronization

/// A userspace TCP proxy for one directed peer link (server A dials server B through it), so
/// tests can cut, stall or slow that link: netem and iptables are not available here.
///
/// Modes, switchable at any time from any task:
/// - `pass`: bytes flow both ways;
/// - `drop`: open connections are closed and new ones are accepted and closed at once (a
///   refused / reset link);
/// - `blackhole`: connections are accepted and bytes are read and discarded, nothing is answered
///   (a silent partition: the dialer only learns from its own timeouts);
/// - `delay(d)`: every chunk is held `d` before it is passed on, in order.
/// Leaving `blackhole` closes the connections it held: their byte streams lost data mid-frame
/// (TLS would fail on them), so the dialer reconnects, as it would after a real partition.
public final class LinkProxy: Sendable {
    public enum Mode: Sendable, Equatable {
        case pass, drop, blackhole
        case delay(Duration)
    }

    public let name: String
    public let listenPort: Int
    public let targetPort: Int
    private let state = Mutex<(mode: Mode, open: [ObjectIdentifier: any Channel])>((.pass, [:]))
    private let listener = Mutex<(any Channel)?>(nil)

    public init(name: String, listenPort: Int, targetPort: Int) {
        self.name = name
        self.listenPort = listenPort
        self.targetPort = targetPort
    }

    public var mode: Mode { state.withLock { $0.mode } }

    public func start() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [self] inbound in
                guard mode != .drop else { return inbound.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
                return ClientBootstrap(group: inbound.eventLoop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMapThrowing { [self] outbound in
                        let forward = RelayHandler(link: self, partner: outbound)
                        let backward = RelayHandler(link: self, partner: inbound)
                        try inbound.pipeline.syncOperations.addHandler(forward)
                        try outbound.pipeline.syncOperations.addHandler(backward)
                        track(inbound)
                        track(outbound)
                    }
            }
            .bind(host: "127.0.0.1", port: listenPort).get()
        listener.withLock { $0 = channel }
    }

    public func set(_ mode: Mode) {
        let toClose: [any Channel] = state.withLock { state in
            let previous = state.mode
            state.mode = mode
            let close = mode == .drop || previous == .blackhole && mode != .blackhole
            return close ? Array(state.open.values) : []
        }
        for channel in toClose { channel.close(promise: nil) }
    }

    public func stop() async {
        set(.drop)
        let channel = listener.withLock { $0 }
        try? await channel?.close().get()
    }

    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { $0.open[id] = channel }
        channel.closeFuture.whenComplete { [self] _ in _ = state.withLock { $0.open.removeValue(forKey: id) } }
    }

    /// One direction of one proxied connection: reads from its channel, writes to the partner.
    final class RelayHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        let link: LinkProxy
        let partner: any Channel
        /// Chunks waiting out a delay, in arrival order, with the time each may go.
        private var delayed: [(due: NIODeadline, bytes: ByteBuffer)] = []
        private var timerArmed = false

        init(link: LinkProxy, partner: any Channel) {
            self.link = link
            self.partner = partner
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            switch link.mode {
            case .pass where delayed.isEmpty:
                partner.writeAndFlush(bytes, promise: nil)
            case .pass:
                delayed.append((.now(), bytes))
            case .drop:
                context.close(promise: nil)
            case .blackhole:
                break
            case .delay(let duration):
                delayed.append((.now() + .nanoseconds(Int64(duration.components.seconds) * 1_000_000_000
                    + duration.components.attoseconds / 1_000_000_000), bytes))
            }
            armTimer(context.eventLoop)
        }

        private func armTimer(_ loop: any EventLoop) {
            guard !timerArmed, let first = delayed.first else { return }
            timerArmed = true
            let bound = NIOLoopBound(self, eventLoop: loop)
            loop.scheduleTask(deadline: first.due) { bound.value.flushDue(loop) }
        }

        private func flushDue(_ loop: any EventLoop) {
            timerArmed = false
            let now = NIODeadline.now()
            while let first = delayed.first, first.due <= now {
                delayed.removeFirst()
                partner.writeAndFlush(first.bytes, promise: nil)
            }
            armTimer(loop)
        }

        func channelInactive(context: ChannelHandlerContext) {
            partner.close(promise: nil)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
