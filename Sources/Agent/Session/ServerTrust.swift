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

/// One server address, from `server_address` (a host, or comma-separated `host:port`s) and
/// `server_port`.
public struct ServerEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func parse(_ serverAddress: String, defaultPort: UInt16) throws(ServerTrustError) -> [ServerEndpoint] {
        var endpoints: [ServerEndpoint] = []
        for part in serverAddress.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            if text.hasPrefix("[") {
                // [v6]:port or [v6]
                guard let close = text.firstIndex(of: "]") else { throw ServerTrustError("bad server address \(text)") }
                let host = String(text[text.index(after: text.startIndex)..<close])
                let rest = text[text.index(after: close)...]
                let port = rest.hasPrefix(":") ? Int(rest.dropFirst()) : Int(defaultPort)
                guard let port, (1...65535).contains(port) else { throw ServerTrustError("bad port in \(text)") }
                endpoints.append(ServerEndpoint(host: host, port: port))
            } else if let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon {
                guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                    throw ServerTrustError("bad port in \(text)")
                }
                endpoints.append(ServerEndpoint(host: String(text[..<colon]), port: port))
            } else {
                endpoints.append(ServerEndpoint(host: text, port: Int(defaultPort)))
            }
        }
        guard !endpoints.isEmpty else { throw ServerTrustError("no server address") }
        return endpoints
    }

    /// An IP literal is dialled directly (no DNS, no SNI); a name goes through DNS.
    var target: any ResolvableTarget {
        if host.contains(":") { return .ipv6(address: host, port: port) }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(address: host, port: port)
        }
        return .dns(host: host, port: port)
    }
}
