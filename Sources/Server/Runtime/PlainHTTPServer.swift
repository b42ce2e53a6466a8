import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal plain-HTTP listener for the operational endpoints (SPIRE's `health_checks`
/// `/live` and `/ready`, and the Prometheus `/metrics` of `telemetry`): `GET` on a known path
/// answers from a closure; anything else is 404. Requests are tiny and answered at once; the
/// connection closes after each answer.
final class PlainHTTPServer: Sendable {
    struct Answer: Sendable {
        var ok: Bool
        var contentType: String
        var body: String
    }

    private let routes: [String: @Sendable () -> Answer]

    init(routes: [String: @Sendable () -> Answer]) {
        self.routes = routes
    }

    /// Binds and serves until the task is cancelled.
    func run(host: String, port: Int) async throws {
        let routes = self.routes
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(RouteHandler(routes: routes))
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

private final class RouteHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let routes: [String: @Sendable () -> PlainHTTPServer.Answer]

    init(routes: [String: @Sendable () -> PlainHTTPServer.Answer]) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let path = String(request.uri.prefix { $0 != "?" })
        let status: HTTPResponseStatus
        let answer: PlainHTTPServer.Answer
        if request.method == .GET, let route = routes[path] {
            answer = route()
            status = answer.ok ? .ok : .serviceUnavailable
        } else {
            answer = .init(ok: false, contentType: "application/json", body: "{}\n")
            status = .notFound
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: answer.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
