import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import NIOSSL
import SPIFFE
import Synchronization
import IdentityModel
import SwiftASN1
import X509

/// The server's TLS identity and the trust it applies to clients, both replaceable while the
/// listener runs (server SVID renewal, CA rotation).
public final class TLSMaterial: Sendable {
    private struct Current {
        var chain: [Certificate]
        var bundle: X509Bundle
        /// The chain and key as NIOSSL takes them, converted once per update rather than on
        /// every handshake.
        var nioChain: [NIOSSLCertificate]
        var nioKey: NIOSSLPrivateKey
    }

    private let current: Mutex<Current>

    public init(chain: [Certificate], key: Certificate.PrivateKey, bundle: X509Bundle) throws {
        let (nioChain, nioKey) = try Self.nioForms(chain: chain, key: key)
        current = Mutex(Current(chain: chain, bundle: bundle, nioChain: nioChain, nioKey: nioKey))
    }

    public func update(chain: [Certificate], key: Certificate.PrivateKey) throws {
        let (nioChain, nioKey) = try Self.nioForms(chain: chain, key: key)
        current.withLock { $0.chain = chain; $0.nioChain = nioChain; $0.nioKey = nioKey }
    }

    public func update(bundle: X509Bundle) {
        current.withLock { $0.bundle = bundle }
    }

    public var bundle: X509Bundle { current.withLock { $0.bundle } }
    public var serverChain: [Certificate] { current.withLock { $0.chain } }

    var nioCredentials: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
        current.withLock { ($0.nioChain, $0.nioKey) }
    }

    private static func nioForms(
        chain: [Certificate], key: Certificate.PrivateKey
    ) throws -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
        let certificates = try chain.map { certificate in
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
        }
        let pem = try key.serializeAsPEM().pemString
        return (certificates, try NIOSSLPrivateKey(bytes: Array(pem.utf8), format: .pem))
    }
}

/// The agent-facing listener: TLS with the server's SVID; a client certificate is optional (an
/// agent attesting has none yet) but one that is presented must be a valid X509-SVID of this
/// trust domain. grpc-swift's own TLS listener can only require or ignore client
/// certificates, so this factory sets up NIOSSL itself.
struct TLSListenerFactory: HTTP2ServerTransport.ListenerFactory {
    let host: String
    let port: Int
    let material: TLSMaterial
    let eventLoopGroup: any EventLoopGroup

    func makeListeningChannel(
        listenerConfigurator: HTTP2ServerTransport.ListenerConfigurator,
        connectionConfigurator: HTTP2ServerTransport.ConnectionConfigurator
    ) async throws -> NIOAsyncChannel<HTTP2ServerTransport.ConnectionConfigurator.ConnectionChannel, Never> {
        let (chain, key) = material.nioCredentials
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .optionalVerification
        configuration.applicationProtocols = ["grpc-exp", "h2"]
        let material = self.material
        // Each handshake takes the current server SVID, so a renewed one is used at once.
        configuration.sslContextCallback = { _, promise in
            let (chain, key) = material.nioCredentials
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = chain.map { .certificate($0) }
            override.privateKey = .privateKey(key)
            promise.succeed(override)
        }
        let context = try NIOSSLContext(configuration: configuration)
        return try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in listenerConfigurator.configure(channel: channel) }
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = NIOSSLServerHandler(
                        context: context,
                        customVerificationCallbackWithMetadata: { certificates, promise in
                            Self.verifyClient(certificates, bundle: material.bundle, promise: promise)
                        })
                    try channel.pipeline.syncOperations.addHandler(handler)
                }.flatMap {
                    connectionConfigurator.configure(channel: channel, tls: .configured(requireALPN: false))
                }
            }
    }

    /// Verifies a presented chain as an X509-SVID against the current bundle, and when
    /// `requiredID` is set, that the SVID is that ID (a cluster peer must be the server).
    static func verifyClient(
        _ certificates: [NIOSSLCertificate], bundle: X509Bundle, requiredID: SPIFFEID? = nil,
        promise: EventLoopPromise<NIOSSLVerificationResultWithMetadata>
    ) {
        let chain: [Certificate]
        do {
            chain = try certificates.map { try Certificate(derEncoded: try $0.toDERBytes()) }
        } catch {
            promise.succeed(.failed)
            return
        }
        Task {
            do {
                let verified = try await X509SVID.verify(chain: chain, bundles: bundle, at: Date())
                guard requiredID == nil || verified.id == requiredID else {
                    promise.succeed(.failed)
                    return
                }
                promise.succeed(.certificateVerified(VerificationMetadata(ValidatedCertificateChain(certificates))))
            } catch {
                promise.succeed(.failed)
            }
        }
    }
}

/// Hands handlers the verified client SVID of a TLS connection, the way `PeerTracker` hands
/// them a Unix peer: a header set below gRPC, after removing any the client sent.
public enum TLSPeerIdentity {
    static let metadataKey = "lineage-peer-svid"

    /// Install as the transport's `onAcceptHTTP2Stream` callback.
    static func tagStream(_ stream: any Channel) -> EventLoopFuture<Void> {
        guard let connection = stream.parent else {
            return stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(SVIDHeaderInjector(leafDER: nil), position: .first)
            }
        }
        return connection.nioSSL_peerValidatedCertificateChain().hop(to: stream.eventLoop)
            .flatMapErrorThrowing { _ in nil }
            .flatMapThrowing { chain in
                let leaf = try chain?.first?.toDERBytes()
                try stream.pipeline.syncOperations.addHandler(SVIDHeaderInjector(leafDER: leaf), position: .first)
            }
    }

    /// The SPIFFE ID and serial of the verified client certificate, if the call had one.
    static func verifiedClient(in metadata: Metadata) -> (SPIFFEID, CertificateSerialNumber)? {
        let values = Array(metadata[stringValues: metadataKey])
        guard values.count == 1, let der = Data(base64Encoded: values[0]),
              let certificate = try? Certificate(derEncoded: Array(der)),
              let id = try? X509SVID.spiffeID(of: certificate),
              let serial = try? CertificateSerialNumber(bytes: certificate.serialNumber.bytes)
        else { return nil }
        return (id, serial)
    }
}

/// Sits in front of gRPC's stream handler: strips any client-sent identity header and adds the
/// verified leaf, so nothing a client sends can claim an identity.
final class SVIDHeaderInjector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload

    private let value: String?
    private var injected = false

    init(leafDER: [UInt8]?) { value = leafDER.map { Data($0).base64EncodedString() } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var payload = unwrapInboundIn(data)
        if case .headers(var headers) = payload {
            headers.headers.remove(name: TLSPeerIdentity.metadataKey)
            if !injected, let value {
                headers.headers.add(name: TLSPeerIdentity.metadataKey, value: value)
                injected = true
            }
            payload = .headers(headers)
        }
        context.fireChannelRead(wrapInboundOut(payload))
    }
}
