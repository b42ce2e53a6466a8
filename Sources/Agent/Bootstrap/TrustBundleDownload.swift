import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SPIFFE
import X509

/// `trust_bundle_url`: one bounded HTTPS GET of the bootstrap bundle (SPIRE's agent downloads it
/// with Go's default client when no bundle is stored yet).
///
/// Stricter than SPIRE on purpose:
/// - **https only.** SPIRE allows `http://` only through `trust_bundle_unix_socket`, which we do
///   not implement, so plain HTTP is never accepted.
/// - **No redirects.** A 3xx is an error naming where it pointed: the bundle decides whom the
///   agent trusts, so it must come from the host the operator configured (RELIABILITY §3: never
///   follow redirects to other hosts; following none is the simplest way to guarantee it).
/// - **Bounded.** The body may hold at most `Limits.bootstrapBundleBytesMax` bytes (checked
///   against `Content-Length` and while reading), the whole exchange takes at most `timeout`,
///   and NIOHTTP1's parser bounds the response head (80 KiB).
public struct TrustBundleDownload: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        /// True when trying again later may succeed (unreachable, timed out, 5xx, 429).
        public let isTransient: Bool
    }

    public let url: String
    let host: String
    let port: Int
    let pathAndQuery: String
    /// The roots the server's certificate must chain to; nil means the system's roots.
    public var trustRoots: [Certificate]?
    public var timeout: Duration

    /// Validates `url`: `https://host[:port][/path][?query]`.
    public init(url: String, trustRoots: [Certificate]? = nil, timeout: Duration = Limits.bootstrapDownloadTimeout) throws(AgentRunError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw AgentRunError("trust_bundle_url \"\(url)\" is not a URL")
        }
        guard scheme == "https" else {
            throw AgentRunError("trust_bundle_url \"\(url)\" must start with https:// (SPIRE allows http only over a unix socket)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AgentRunError("trust_bundle_url \"\(url)\" has no host")
        }
        guard components.user == nil && components.password == nil else {
            throw AgentRunError("trust_bundle_url \"\(url)\" must not carry credentials")
        }
        self.url = url
        // URLComponents keeps IPv6 brackets in `host`; the socket layer wants them off.
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = components.port ?? 443
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.pathAndQuery = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
        self.trustRoots = trustRoots
        self.timeout = timeout
    }

    /// Fetches the body of a 200 answer.
    public func fetch() async throws(Failure) -> [UInt8] {
        let sslContext: NIOSSLContext
        do {
            var tls = TLSConfiguration.makeClientConfiguration()
            if let trustRoots {
                tls.trustRoots = .certificates(
                    try trustRoots.map { try NIOSSLCertificate(bytes: try CertificateCoding.der($0), format: .der) })
            }
            sslContext = try NIOSSLContext(configuration: tls)
        } catch {
            throw Failure(description: "\(url): cannot set up TLS: \(error)", isTransient: false)
        }
        do {
            return try await withThrowingTaskGroup(of: [UInt8]?.self) { group in
                group.addTask { try await self.exchange(sslContext: sslContext) }
                group.addTask {
                    try await Task.sleep(for: self.timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let body = first else {
                    throw Failure(description: "\(url): no complete answer within \(timeout)", isTransient: true)
                }
                return body
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as NIOSSLError {
            throw Failure(description: "\(url): TLS failed: \(error)", isTransient: false)
        } catch let error as NIOSSLExtraError {
            throw Failure(description: "\(url): TLS failed: \(error)", isTransient: false)
        } catch let error as BoringSSLError {
            throw Failure(description: "\(url): the server's certificate is not trusted: \(error)", isTransient: false)
        } catch {
            throw Failure(description: "\(url): \(error)", isTransient: true)
        }
    }

    private func exchange(sslContext: NIOSSLContext) async throws -> [UInt8] {
        // SNI and the hostname check take a DNS name; for an IP literal NIOSSL checks the
        // certificate's IP SANs against the connected address instead.
        let serverHostname = Self.isIPAddress(host) ? nil : host
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    try sync.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: pathAndQuery)
            head.headers.add(name: "Host", value: port == 443 ? hostHeaderName : "\(hostHeaderName):\(port)")
            head.headers.add(name: "User-Agent", value: "lineage-agent")
            head.headers.add(name: "Accept", value: "*/*")
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            try await outbound.write(.end(nil))
            var body: [UInt8] = []
            for try await part in inbound {
                switch part {
                case .head(let response):
                    try check(response)
                case .body(let buffer):
                    guard body.count + buffer.readableBytes <= Limits.bootstrapBundleBytesMax else {
                        throw Failure(description: "\(url): the bundle is larger than \(Limits.bootstrapBundleBytesMax) bytes", isTransient: false)
                    }
                    body.append(contentsOf: buffer.readableBytesView)
                case .end:
                    return body
                }
            }
            throw Failure(description: "\(url): the connection closed before the answer was complete", isTransient: true)
        }
    }

    private func check(_ response: HTTPResponseHead) throws(Failure) {
        let status = "\(response.status.code) \(response.status.reasonPhrase)"
        switch response.status.code {
        case 200:
            if let length = response.headers.first(name: "Content-Length").flatMap(Int.init), length > Limits.bootstrapBundleBytesMax {
                throw Failure(
                    description: "\(url): the bundle is \(length) bytes, more than \(Limits.bootstrapBundleBytesMax)", isTransient: false)
            }
        case 300..<400:
            let location = response.headers.first(name: "Location").map { " to \($0.prefix(512))" } ?? ""
            throw Failure(
                description: "\(url) answered \(status)\(location); redirects are not followed: configure the final URL",
                isTransient: false)
        case 429, 500..<600:
            throw Failure(description: "\(url) answered \(status)", isTransient: true)
        default:
            throw Failure(description: "\(url) answered \(status), expected 200 OK", isTransient: false)
        }
    }

    private var hostHeaderName: String { host.contains(":") ? "[\(host)]" : host }

    static func isIPAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
}
