import Attestation
import Config
import Foundation
import KeyStore
import SPIFFE
import Wire
import X509

/// `NodeAttestor "x509pop"`: the payload is the node's certificate chain (SPIRE's JSON); the
/// server's challenge is answered by signing both nonces with the node's private key. The
/// certificate can prove the node's identity again, so the agent may re-attest with it.
public struct X509PoPAttestor: NodeAttestor {
    let key: X509PoPSigningKey
    /// DER certificates, leaf first, then intermediates.
    let chainDER: [[UInt8]]

    public var type: String { X509PoP.type }
    public var canReattest: Bool { true }

    /// `key` must be the private half of the first certificate's public key.
    public init(key: X509PoPSigningKey, chain: [Certificate]) throws(AttestationFailure) {
        guard let leaf = chain.first else { throw AttestationFailure("x509pop: no certificate to attest with") }
        guard chain.count <= Attestation.Limits.x509popCertificatesMax else {
            throw AttestationFailure(
                "x509pop: \(chain.count) certificates; servers accept the leaf and at most "
                    + "\(Attestation.Limits.x509popCertificatesMax - 1) intermediates")
        }
        guard leaf.publicKey == key.publicKey else {
            throw AttestationFailure("x509pop: the private key does not belong to the certificate's public key")
        }
        do {
            chainDER = try chain.map { certificate throws(SPIFFEError) in try CertificateCoding.der(certificate) }
        } catch {
            throw AttestationFailure("x509pop: cannot encode the certificate chain: \(error)")
        }
        self.key = key
    }

    /// SPIRE's agent configuration: `private_key_path`, `certificate_path` (the leaf first; any
    /// further certificates in it are sent too) and the optional `intermediates_path`. Errors
    /// name the file.
    public init(privateKeyPath: String, certificatePath: String, intermediatesPath: String?) throws(AttestationFailure) {
        let key: X509PoPSigningKey
        var chain: [Certificate]
        /// A configured PEM file's text; errors name the config key and the path.
        func pem(_ path: String, _ configKey: String) throws(AttestationError) -> String {
            do {
                return String(decoding: try PrivateFiles.read(path, bytesMax: SPIFFE.Limits.encodedCertificatesBytesMax), as: UTF8.self)
            } catch {
                throw AttestationError(.unreadableFile, "\(configKey) \(error.message)")
            }
        }
        do {
            let keyPEM = try pem(privateKeyPath, "private_key_path")
            do {
                key = try X509PoPSigningKey(pemEncoded: keyPEM)
            } catch {
                throw AttestationError(error.code, "private_key_path \(privateKeyPath): \(error.reason)")
            }
            chain = try X509PoP.certificates(pem: try pem(certificatePath, "certificate_path"), source: "certificate_path \(certificatePath)")
            if let intermediatesPath {
                chain += try X509PoP.certificates(
                    pem: try pem(intermediatesPath, "intermediates_path"), source: "intermediates_path \(intermediatesPath)")
            }
        } catch {
            throw AttestationFailure("\(error)")
        }
        try self.init(key: key, chain: chain)
    }

    public func attestationData() throws -> Spire_Api_Types_AttestationData {
        var data = Spire_Api_Types_AttestationData()
        data.type = type
        data.payload = Data(X509PoP.attestationPayload(chainDER: chainDER))
        return data
    }

    public func respond(to challenge: [UInt8]) throws -> [UInt8] {
        let parsed = try X509PoPChallenge(jsonEncoded: challenge)
        var random = SystemRandomNumberGenerator()
        let nonce = (0..<Attestation.Limits.x509popNonceBytes).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        return try key.respond(to: parsed, nonce: nonce).jsonEncoded()
    }
}

extension AgentRuntime {
    /// The node attestor `agent.conf` configures: x509pop from its files, else nil, which makes
    /// the runtime use the join token (`-joinToken` or `agent.join_token`).
    public static func nodeAttestor(for config: AgentConfig) throws(AttestationFailure) -> (any NodeAttestor)? {
        switch config.nodeAttestor {
        case .joinToken:
            return nil
        case .x509pop(let privateKeyPath, let certificatePath, let intermediatesPath):
            return try X509PoPAttestor(
                privateKeyPath: privateKeyPath, certificatePath: certificatePath, intermediatesPath: intermediatesPath)
        }
    }
}
