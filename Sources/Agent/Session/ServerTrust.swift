import Config
import Foundation
import GRPCNIOTransportHTTP2
import NIOCore
import NIOSSL
import SPIFFE
import SwiftASN1
import Synchronization
import X509

/// How the agent authenticates the server: its chain must verify against the trust bundle of the
/// agent's trust domain and its leaf must be `spiffe://<td>/spire/server` (SPIRE's agent rule).
/// The bundle starts as the bootstrap bundle (`trust_bundle_path`, or the one stored under
/// `data_dir`) and follows the bundle that sync delivers.
///
/// `insecure_bootstrap` skips verification for attestation only: the caller asks for the
/// insecure callback explicitly, and only when it has no bundle at all.
public final class ServerTrust: Sendable {
    public let trustDomain: TrustDomain
    public let serverID: SPIFFEID
    private let current: Mutex<X509Bundle?>

    public init(trustDomain: TrustDomain, bundle: X509Bundle?) {
        self.trustDomain = trustDomain
        self.serverID = SPIFFEID.server(in: trustDomain)
        self.current = Mutex(bundle)
    }

    public var bundle: X509Bundle? { current.withLock { $0 } }

    public func update(_ bundle: X509Bundle) {
        precondition(bundle.trustDomain == trustDomain)
        current.withLock { $0 = bundle }
    }

    /// Verifies a presented chain (leaf first) at `time`.
    public func verify(chain: [Certificate], at time: Date) async throws(ServerTrustError) {
        guard let bundle else { throw ServerTrustError("no trust bundle to verify the server with") }
        guard !chain.isEmpty else { throw ServerTrustError("the server presented no certificate") }
        let verified: X509SVID.VerifiedChain
        do {
            verified = try await X509SVID.verify(chain: chain, bundles: bundle, at: time)
        } catch {
            throw ServerTrustError("the server's certificate does not verify: \(error)")
        }
        guard verified.id == serverID else {
            throw ServerTrustError("the server presented \(verified.id), expected \(serverID)")
        }
    }

    /// The TLS verification callback: NIOSSL hands over the presented chain; the verdict comes
    /// back through the promise once `verify` (async because swift-certificates' verifier is)
    /// has run. With `insecure`, any certificate is accepted (bootstrap attestation only).
    func verificationCallback(insecure: Bool, logger: AgentLogger)
        -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void
    {
        { [self] certificates, promise in
            if insecure {
                promise.succeed(.certificateVerified(VerificationMetadata(nil)))
                return
            }
            let chain: [Certificate]
            do {
                chain = try certificates.map { try Certificate(derEncoded: try $0.toDERBytes()) }
            } catch {
                logger.warn("Server certificate is unreadable", [("error", "\(error)")])
                promise.succeed(.failed)
                return
            }
            Task {
                do {
                    try await self.verify(chain: chain, at: Date())
                    promise.succeed(.certificateVerified(VerificationMetadata(nil)))
                } catch {
                    logger.warn("Server is not trusted", [("error", "\(error)")])
                    promise.succeed(.failed)
                }
            }
        }
    }

    /// Client transport security: TLS to the server, with `clientSVID` as the client certificate
    /// (mTLS) when given. Verification is entirely the callback's (no hostname check: servers are
    /// identified by SPIFFE ID, not by name).
    func transportSecurity(clientSVID: X509SVID?, insecure: Bool, logger: AgentLogger) throws
        -> HTTP2ClientTransport.Posix.TransportSecurity
    {
        var chain: [TLSConfig.CertificateSource] = []
        var key: TLSConfig.PrivateKeySource?
        if let clientSVID {
            chain = try clientSVID.certificates.map { .bytes(try CertificateCoding.der($0), format: .der) }
            key = .bytes(Array(clientSVID.privateKey.pemEncoded().utf8), format: .pem)
        }
        let callback = verificationCallback(insecure: insecure, logger: logger)
        return .tls(
            HTTP2ClientTransport.Posix.TransportSecurity.TLS.defaults { tls in
                tls.certificateChain = chain
                tls.privateKey = key
                tls.serverCertificateVerification = .noHostnameVerification
                tls.customVerificationCallback = callback
            })
    }
}

public struct ServerTrustError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One server to dial: an IP literal (from `server_address` or resolved from one of its names)
/// or a DNS name left to the transport when it could not be resolved.
public struct ServerEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int
    /// The `server_address` name this address was resolved from, for logs.
    public let name: String?

    public init(host: String, port: Int, name: String? = nil) {
        self.host = host
        self.port = port
        self.name = name
    }

    public init(_ address: ServerAddress) {
        self.init(host: address.host.text, port: Int(address.port))
    }

    public var description: String {
        let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        return name.map { "\(address) (\($0))" } ?? address
    }

    /// `server_address` and `server_port`, checked as the configuration file is
    /// (`ServerAddress.parseList`).
    public static func parse(_ serverAddress: String, defaultPort: UInt16) throws(ServerTrustError) -> [ServerEndpoint] {
        do {
            return try ServerAddress.parseList(serverAddress, defaultPort: defaultPort).map(ServerEndpoint.init)
        } catch {
            throw ServerTrustError("server address \(error.message)")
        }
    }

    var isIPLiteral: Bool { host.contains(":") || ServerAddress.isIPv4Literal(host) }

    /// An IP literal is dialled directly (no DNS, no SNI); a name goes through DNS.
    var target: any ResolvableTarget {
        if host.contains(":") { return .ipv6(address: host, port: port) }
        if ServerAddress.isIPv4Literal(host) { return .ipv4(address: host, port: port) }
        return .dns(host: host, port: port)
    }
}
