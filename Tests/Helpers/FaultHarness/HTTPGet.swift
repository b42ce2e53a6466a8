import Foundation
import NIOCore
import NIOPosix

/// A plain HTTP/1.0 GET on loopback with NIO (the metrics endpoint): no blocking call on the
/// few cooperative threads, and a hard timeout, since a paused server accepts and never answers.
enum HTTPGet {
    static func fetch(port: Int, path: String, timeout: Duration) async throws -> String {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let promise = loop.makePromise(of: String.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: loop)
                .connectTimeout(timeout.timeAmount)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(promise: promise))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            // Not listening (yet, or any more): the promise must still be completed.
            promise.fail(error)
            throw error
        }
        let timer = loop.scheduleTask(in: timeout.timeAmount) {
            promise.fail(ChannelError.connectTimeout(timeout.timeAmount))
            channel.close(promise: nil)
        }
        var request = channel.allocator.buffer(capacity: 64)
        request.writeString("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        channel.writeAndFlush(request, promise: nil)
        defer { timer.cancel() }
        let response = try await promise.futureResult.get()
        guard response.hasPrefix("HTTP/1."), response.split(separator: " ").dropFirst().first == "200",
              let body = response.range(of: "\r\n\r\n")
        else { throw HarnessError("GET \(path) on port \(port): \(response.prefix(80))") }
        return String(response[body.upperBound...])
    }

    /// Gathers the whole response; the server closes the connection after it (HTTP/1.0).
    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let promise: EventLoopPromise<String>
        var received = ""

        init(promise: EventLoopPromise<String>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            received += buffer.readString(length: buffer.readableBytes) ?? ""
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.succeed(received)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}

extension Duration {
    var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }

    public var faultSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
