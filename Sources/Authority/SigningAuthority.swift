import SwiftASN1
import X509

/// An X.509 CA able to sign: its certificate, the chain above it up to (not including) the
/// root a bundle holds, and its key. With a self-signed CA the chain is empty.
///
/// The key is a `Certificate.PrivateKey`, which can wrap any `CustomPrivateKey` (a KMS or HSM
/// signer) as well as in-memory keys: that is the signing seam the rest of Lineage uses.
public struct SigningAuthority: Sendable {
    public let certificate: Certificate
    /// Intermediates between `certificate` and the trust anchor, nearest first (the upstream
    /// chain an SVID carries after its leaf).
    public let upstreamChain: [Certificate]
    public let privateKey: Certificate.PrivateKey
    /// The subject key identifier, the authority's ID in events and bundles and the AKI of every
    /// certificate it signs.
    public let subjectKeyID: [UInt8]
    /// The signature algorithm `privateKey` signs with.
    public let signatureAlgorithm: Certificate.SignatureAlgorithm
    /// The certificates that follow one this authority issues, up to the bundle's roots: none
    /// when the authority is a self-signed root in the bundle, else itself and the chain above it.
    public let chainAfterIssued: [Certificate]
    /// `chainAfterIssued` as DER, what an SVID's holder receives after the leaf.
    public let chainAfterIssuedDER: [[UInt8]]
    /// The constant parts of every X509-SVID this authority signs, as DER; nil when its
    /// signature algorithm is one the direct encoder does not know.
    let svidEncoding: SVIDEncoding?

    /// Derives the SKI, the signature algorithm and the chain once, here, because they go into
    /// every certificate this authority signs: per certificate they cost a parse of the CA's
    /// extensions and a copy of the EC key (`Certificate.PrivateKey.publicKey`).
    public init(certificate: Certificate, upstreamChain: [Certificate] = [], privateKey: Certificate.PrivateKey) {
        precondition(certificate.publicKey == privateKey.publicKey, "authority key does not match its certificate")
        self.certificate = certificate
        self.upstreamChain = upstreamChain
        self.privateKey = privateKey
        if let ski = try? certificate.extensions.subjectKeyIdentifier {
            self.subjectKeyID = Array(ski.keyIdentifier)
        } else {
            self.subjectKeyID = Array(SubjectKeyIdentifier(hash: certificate.publicKey).keyIdentifier)
        }
        self.signatureAlgorithm = CertificateTemplates.signatureAlgorithm(for: privateKey)
        self.chainAfterIssued = certificate.isSelfIssued ? [] : [certificate] + upstreamChain
        precondition(!subjectKeyID.isEmpty, "an authority needs a subject key identifier")
        self.chainAfterIssuedDER = chainAfterIssued.map { certificate in
            var serializer = DER.Serializer()
            // A parsed or signed certificate re-serializes its own bytes; this cannot fail.
            do { try serializer.serialize(certificate) } catch { preconditionFailure("cannot encode a CA certificate: \(error)") }
            return serializer.serializedBytes
        }
        self.svidEncoding = SVIDEncoding(
            certificate: certificate, subjectKeyID: subjectKeyID, signatureAlgorithm: signatureAlgorithm)
    }
}

extension Certificate {
    /// Issuer and subject are the same name: a root, or a self-signed CA.
    var isSelfIssued: Bool { issuer == subject }
}
