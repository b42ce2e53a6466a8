import NIOSSL
import SPIFFE

/// The TLS side of talking to another member: present this server's SVID, accept only a peer
/// whose chain verifies against the current bundle and whose SVID is the server ID
/// (`spiffe://<td>/spire/server`). An agent or workload SVID from the same trust domain
/// verifies against the bundle too; only the ID check keeps it from posing as a member.
struct ClusterTLS: Sendable {
    let material: TLSMaterial
    let serverID: SPIFFEID

    /// A client handler for one new connection, with the credentials current now.
    func clientHandler() throws -> NIOSSLClientHandler {
        let (chain, key) = material.nioCredentials
        precondition(!chain.isEmpty, "the cluster transport starts after the server has an SVID")
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        configuration.minimumTLSVersion = .tlsv12
        // Peers are addressed by host:port but identified by SPIFFE ID, checked below.
        configuration.certificateVerification = .noHostnameVerification
        configuration.applicationProtocols = ["grpc-exp", "h2"]
        let context = try NIOSSLContext(configuration: configuration)
        let material = self.material
        let serverID = self.serverID
        return try NIOSSLClientHandler(
            context: context, serverHostname: nil,
            customVerificationCallbackWithMetadata: { certificates, promise in
                TLSListenerFactory.verifyClient(certificates, bundle: material.bundle, requiredID: serverID, promise: promise)
            })
    }
}
