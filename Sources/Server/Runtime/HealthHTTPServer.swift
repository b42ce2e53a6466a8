import NIOCore
import NIOHTTP1
import NIOPosix

/// SPIRE's `health_checks` listener: plain HTTP `GET live_path` and `GET ready_path`, 200 when
/// the check holds and 503 when it does not, with a one-line JSON body. Anything else is 404.
/// Requests are tiny and answered at once; the connection closes after each answer.
final class HealthHTTPServer: Sendable {
    struct Paths: Sendable {
        var live: String
        var ready: String
    }

    private let paths: Paths
    private let isLive: @Sendable () -> Bool
    private let isReady: @Sendable () -> Bool

    init(paths: Paths, isLive: @escaping @Sendable () -> Bool, isReady: @escaping @Sendable () -> Bool) {
        self.paths = paths
        self.isLive = isLive
        self.isReady = isReady
    }

    /// Binds and serves until the task is cancelled.
    func run(host: String, port: Int) async throws {
        let paths = self.paths
        let isLive = self.isLive
        let isReady = self.isReady
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(HealthHandler(paths: paths, isLive: isLive, isReady: isReady))
                }
            }
            .bind(host: host, port: port).get()
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}

private final class HealthHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let paths: HealthHTTPServer.Paths
    let isLive: @Sendable () -> Bool
    let isReady: @Sendable () -> Bool

    init(paths: HealthHTTPServer.Paths, isLive: @escaping @Sendable () -> Bool, isReady: @escaping @Sendable () -> Bool) {
        self.paths = paths
        self.isLive = isLive
        self.isReady = isReady
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = String(request.uri.prefix { $0 != "?" })
        let status: HTTPResponseStatus
        let body: String
        switch (request.method, path) {
        case (.GET, paths.live):
            let live = isLive()
            (status, body) = (live ? .ok : .serviceUnavailable, "{\"live\":\(live)}\n")
        case (.GET, paths.ready):
            let ready = isReady()
            (status, body) = (ready ? .ok : .serviceUnavailable, "{\"ready\":\(ready)}\n")
        default:
            (status, body) = (.notFound, "{}\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
