import Crypto
import SPIFFE
import SwiftASN1
import X509

/// Keys and PKCS#10 requests the agent sends the server. The server takes the SPIFFE ID from the
/// attestation or the entry, never from the CSR (SPIRE's rule), so the subject is only SPIRE's
/// conventional `C=US, O=SPIRE` and no SAN is requested.
public enum SVIDRequest {
    /// A fresh P-256 key (SPIRE's default `ec-p256` for agent and workload SVIDs).
    public static func newKey() -> SVIDPrivateKey { SVIDPrivateKey(P256.Signing.PrivateKey()) }

    /// DER PKCS#10 signed by `key`.
    public static func csr(for key: SVIDPrivateKey) throws -> [UInt8] {
        let subject = try DistinguishedName {
            CountryName("US")
            OrganizationName("SPIRE")
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: subject, privateKey: key.certificatePrivateKey,
            attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    /// An X509-SVID from the server's answer (`spire.api.types.X509SVID.cert_chain`, leaf first)
    /// and the key whose CSR it answers; checks the SVID rules and that the key matches.
    public static func svid(chain: [[UInt8]], key: SVIDPrivateKey, hint: String? = nil) throws(SyncError) -> X509SVID {
        guard !chain.isEmpty, chain.count <= Limits.svidChainCertificatesMax else {
            throw SyncError(.malformedSVID, "the server returned \(chain.count) certificates")
        }
        do {
            let certificates = try chain.map { try Certificate(derEncoded: $0) }
            return try X509SVID(certificates: certificates, privateKey: key, hint: hint)
        } catch {
            throw SyncError(.malformedSVID, "\(error)")
        }
    }
}
