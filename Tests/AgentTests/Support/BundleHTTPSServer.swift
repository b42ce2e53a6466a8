import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwiftASN1
import X509

/// A loopback HTTPS server for `trust_bundle_url` tests: a fixed answer per path, served with a
/// certificate for 127.0.0.1 issued by a CA of its own (`rootCertificate`, which tests hand to
/// the download as its trust root; the system roots do not know it).
final class BundleHTTPSServer: Sendable {
    struct Answer: Sendable {
        var status: HTTPResponseStatus = .ok
        var headers: [(String, String)] = []
        var body: [UInt8] = []
        /// Leave out Content-Length (the body goes chunked), so only the reader's bound stops it.
        var chunked = false
        /// Never answer (for timeouts).
        var hang = false
    }

    let rootCertificate: Certificate
    private let serverChain: [NIOSSLCertificate]
    private let serverKey: NIOSSLPrivateKey
    private let answers: [String: Answer]

    init(answers: [String: Answer]) throws {
        let now = Date()
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName { CommonName("Lineage test bundle host CA") }
        rootCertificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 60, notValidAfter: now + 3_600, issuer: caName, subject: caName,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true))
            },
            issuerPrivateKey: .init(caKey))
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(leafKey.publicKey),
            notValidBefore: now - 60, notValidAfter: now + 3_600, issuer: caName,
            subject: try DistinguishedName { CommonName("127.0.0.1") }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))])
            },
            issuerPrivateKey: .init(caKey))
        var serializer = DER.Serializer()
        try serializer.serialize(leaf)
        serverChain = [try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)]
        serverKey = try NIOSSLPrivateKey(bytes: Array(leafKey.pemRepresentation.utf8), format: .pem)
        self.answers = answers
    }

    /// Serves on an ephemeral loopback port while `body` runs with that port.
    func serve<R: Sendable>(_ body: @Sendable (Int) async throws -> R) async throws -> R {
        let context = try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: serverChain.map { .certificate($0) }, privateKey: .privateKey(serverKey)))
        let answers = self.answers
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(AnswerHandler(answers: answers))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw ExternalProcess.Failure(description: "the bundle server has no local port")
        }
        do {
            let result = try await body(port)
            try? await channel.close()
            return result
        } catch {
            try? await channel.close()
            throw error
        }
    }
}

private final class AnswerHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let answers: [String: BundleHTTPSServer.Answer]

    init(answers: [String: BundleHTTPSServer.Answer]) {
        self.answers = answers
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = unwrapInboundIn(data) else { return }
        let answer = answers[request.uri] ?? .init(status: .notFound, body: Array("no such bundle\n".utf8))
        if answer.hang { return }
        var headers = HTTPHeaders(answer.headers)
        if !answer.chunked { headers.replaceOrAdd(name: "Content-Length", value: String(answer.body.count)) }
        headers.replaceOrAdd(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: answer.status, headers: headers))), promise: nil)
        // Chunked answers go out in 64 KiB pieces, like a server streaming a large file.
        var offset = 0
        while offset < answer.body.count {
            let end = min(offset + 64 * 1024, answer.body.count)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: answer.body[offset..<end])))), promise: nil)
            offset = end
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
