import Foundation
import SwiftASN1
import X509

/// An upstream CA that signs this server's X.509 authority (SPIRE's `UpstreamAuthority "disk"`):
/// its signing certificate and key, the intermediates above it, and the roots that go into the
/// trust bundle instead of the server's own CA.
///
/// Built from the three PEM files SPIRE's plugin reads, with its rules: the key matches the
/// first certificate, every certificate of the chain is a CA, and the chain verifies to the
/// roots of `bundle_file_path`; without a bundle file the certificate must be a self-signed root,
/// which is then the bundle.
public struct UpstreamAuthority: Sendable {
    /// Signs the server CA; its `upstreamChain` holds the intermediates above it.
    public let signer: SigningAuthority
    public let roots: [Certificate]

    public init(certificatesPEM: String, keyPEM: String, bundlePEM: String?, now: Date) throws(AuthorityError) {
        let chain = try Self.certificates(certificatesPEM, what: "cert_file_path")
        guard chain.count <= Limits.upstreamCertificatesMax else {
            throw AuthorityError(.upstreamInvalid, "cert_file_path holds \(chain.count) certificates; at most \(Limits.upstreamCertificatesMax)")
        }
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: keyPEM)
        } catch {
            throw AuthorityError(.upstreamInvalid, "key_file_path holds no usable private key: \(error)")
        }
        let leaf = chain[0]
        guard leaf.publicKey == key.publicKey else {
            throw AuthorityError(.upstreamInvalid, "key_file_path's key does not match the first certificate of cert_file_path")
        }
        for (index, certificate) in chain.enumerated() {
            guard Self.isCA(certificate) else {
                throw AuthorityError(.upstreamInvalid, "certificate \(index) of cert_file_path is not a CA (basic constraints CA=true required)")
            }
            guard now >= certificate.notValidBefore, now < certificate.notValidAfter else {
                throw AuthorityError(.upstreamInvalid,
                    "certificate \(index) of cert_file_path is not valid now (valid \(certificate.notValidBefore) to \(certificate.notValidAfter))")
            }
        }
        let roots: [Certificate]
        if let bundlePEM {
            roots = try Self.certificates(bundlePEM, what: "bundle_file_path")
            guard roots.count <= Limits.upstreamCertificatesMax else {
                throw AuthorityError(.upstreamInvalid, "bundle_file_path holds \(roots.count) certificates; at most \(Limits.upstreamCertificatesMax)")
            }
            try Self.verify(chain: chain, toOneOf: roots)
        } else {
            guard chain.count == 1, leaf.isSelfIssued, Self.signatureVerifies(leaf, issuer: leaf) else {
                throw AuthorityError(.upstreamInvalid,
                    "without bundle_file_path, cert_file_path must hold one self-signed root certificate")
            }
            roots = [leaf]
        }
        self.signer = SigningAuthority(certificate: leaf, upstreamChain: Array(chain.dropFirst()), privateKey: key)
        self.roots = roots
    }

    static func certificates(_ pem: String, what: String) throws(AuthorityError) -> [Certificate] {
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw AuthorityError(.upstreamInvalid, "\(what) is not PEM: \(error)")
        }
        var certificates: [Certificate] = []
        for (index, document) in documents.enumerated() where document.discriminator == "CERTIFICATE" {
            do {
                certificates.append(try Certificate(derEncoded: document.derBytes))
            } catch {
                throw AuthorityError(.upstreamInvalid, "certificate \(index) of \(what) does not parse: \(error)")
            }
        }
        guard !certificates.isEmpty else { throw AuthorityError(.upstreamInvalid, "\(what) holds no certificate") }
        return certificates
    }

    static func isCA(_ certificate: Certificate) -> Bool {
        if case .isCertificateAuthority = try? certificate.extensions.basicConstraints { return true }
        return false
    }

    /// Each certificate is signed by the next, and the last by one of `roots` (or is one).
    static func verify(chain: [Certificate], toOneOf roots: [Certificate]) throws(AuthorityError) {
        for (index, certificate) in chain.enumerated().dropLast() {
            guard Self.signatureVerifies(certificate, issuer: chain[index + 1]) else {
                throw AuthorityError(.upstreamInvalid, "certificate \(index) of cert_file_path is not signed by certificate \(index + 1)")
            }
        }
        let top = chain[chain.count - 1]
        guard roots.contains(where: { $0 == top || ($0.subject == top.issuer && Self.signatureVerifies(top, issuer: $0)) }) else {
            throw AuthorityError(.upstreamInvalid, "cert_file_path does not chain to a root of bundle_file_path")
        }
    }

    static func signatureVerifies(_ certificate: Certificate, issuer: Certificate) -> Bool {
        certificate.issuer == issuer.subject && issuer.publicKey.isValidSignature(certificate.signature, for: certificate)
    }
}
