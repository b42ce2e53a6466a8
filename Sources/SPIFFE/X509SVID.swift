#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import X509

/// An X509-SVID a workload holds: its SPIFFE ID, its certificate chain and its private key
/// (X509-SVID.md; the Workload API's `X509SVID` message, SPIFFE-WIRE §1.1).
///
/// A value can only be built through initialisers that enforce go-spiffe's `x509svid.ParseRaw`
/// rules (SPIFFE-WIRE §1.6, §2.2), so an `X509SVID` in hand always has a valid leaf, a chain of
/// CAs allowed to sign, and a key that matches the leaf. Parsing never consults a bundle or a
/// clock: whether the chain is *trusted* at some time is `verify(bundles:at:)`'s question.
public struct X509SVID: Hashable, Sendable {
    /// The SPIFFE ID of the leaf's single URI SAN.
    public let id: SPIFFEID
    /// Leaf first, then the intermediates up to (not including) a bundle authority, as the
    /// Workload API and SDS carry them.
    public let certificates: [Certificate]
    public let privateKey: SVIDPrivateKey
    /// The Workload API's operator-chosen label for telling SVIDs apart (SPIFFE-WIRE §1.4).
    public let hint: String?

    /// Validates an already-decoded chain and key; every other initialiser ends here.
    public init(certificates: [Certificate], privateKey: SVIDPrivateKey, hint: String? = nil) throws(SPIFFEError) {
        try X509SVIDRules.checkChainLength(certificates.count)
        let id = try X509SVIDRules.checkLeaf(certificates[0])
        try X509SVIDRules.checkSigningCertificates(certificates)
        guard privateKey.matches(certificates[0]) else {
            throw SPIFFEError(.keyMismatch, "the private key does not match the public key of certificate 0 (leaf)")
        }
        self.id = id
        self.certificates = certificates
        self.privateKey = privateKey
        self.hint = hint
    }

    /// Parses PEM `CERTIFICATE` blocks (leaf first) and a PEM `PRIVATE KEY` block (go-spiffe's
    /// `x509svid.Parse`; SDS's inline PEM, SPIFFE-WIRE §3.2).
    public init(parsing certificates: String, privateKey: String, hint: String? = nil) throws(SPIFFEError) {
        let chain = try CertificateCoding.certificates(pem: certificates)
        try X509SVIDRules.checkChainLength(chain.count)
        try self.init(certificates: chain, privateKey: SVIDPrivateKey(parsing: privateKey), hint: hint)
    }

    /// Parses concatenated DER certificates (leaf first) and a DER PKCS#8 key, the Workload API's
    /// `x509_svid` and `x509_svid_key` fields (go-spiffe's `x509svid.ParseRaw`, SPIFFE-WIRE §1.1).
    public init(derEncoded certificates: [UInt8], privateKey: [UInt8], hint: String? = nil) throws(SPIFFEError) {
        let chain = try CertificateCoding.certificates(der: certificates)
        try X509SVIDRules.checkChainLength(chain.count)
        try self.init(certificates: chain, privateKey: SVIDPrivateKey(derEncoded: privateKey), hint: hint)
    }

    /// Reads a PEM chain and a PEM key from files (go-spiffe's `x509svid.Load`). The only file I/O
    /// in this module, kept at its edge for operator-supplied paths.
    public static func load(
        certificatesPath: String, privateKeyPath: String, hint: String? = nil
    ) throws(SPIFFEError) -> X509SVID {
        let certificates = try readText(certificatesPath, bytesMax: Limits.encodedCertificatesBytesMax)
        let privateKey = try readText(privateKeyPath, bytesMax: Limits.privateKeyBytesMax * 2)
        return try X509SVID(parsing: certificates, privateKey: privateKey, hint: hint)
    }

    public var leaf: Certificate { certificates[0] }

    /// The leaf's notAfter: when this SVID stops being usable and must have been rotated.
    public var expiresAt: Date { leaf.notValidAfter }

    /// PEM `CERTIFICATE` blocks and a PEM `PRIVATE KEY` block (go-spiffe's `Marshal`).
    public func pemEncoded() throws(SPIFFEError) -> (certificates: String, privateKey: String) {
        (try CertificateCoding.pem(certificates), privateKey.pemEncoded())
    }

    /// Concatenated DER certificates and DER PKCS#8 (go-spiffe's `MarshalRaw`), ready for the
    /// Workload API's `x509_svid` and `x509_svid_key`.
    public func derEncoded() throws(SPIFFEError) -> (certificates: [UInt8], privateKey: [UInt8]) {
        (try CertificateCoding.der(certificates), privateKey.derEncoded())
    }

    private static func readText(_ path: String, bytesMax: Int) throws(SPIFFEError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SPIFFEError(.fileUnreadable, "cannot read \(path): \(error)")
        }
        guard data.count <= bytesMax else {
            throw SPIFFEError(.inputTooLarge, "\(path) is larger than \(bytesMax) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SPIFFEError(.fileUnreadable, "\(path) is not UTF-8 text")
        }
        return text
    }
}
