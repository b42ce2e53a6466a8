import SwiftASN1
import X509

/// The structural rules of an X509-SVID chain (X509-SVID.md §4; SPIFFE-WIRE §1.6, §2.2), shared by
/// parsing (go-spiffe's `x509svid.ParseRaw`) and by verification (`x509svid.Verify`), so that a
/// chain a workload would refuse to hold is also a chain a peer refuses to trust.
///
/// Every check reports the certificate's position in the chain (0 is the leaf) and names the rule
/// it broke, so an operator reading the error can find the offending certificate.
enum X509SVIDRules {
    /// Rejects an empty chain and one longer than `Limits.certificatesPerChainMax`. Checked before
    /// any extension is decoded or any signature verified, because deep chains are a DoS lever.
    static func checkChainLength(_ count: Int) throws(SPIFFEError) {
        guard count > 0 else {
            throw SPIFFEError(.malformedCertificate, "the X509-SVID chain holds no certificates")
        }
        guard count <= Limits.certificatesPerChainMax else {
            throw SPIFFEError(
                .inputTooLarge,
                "the X509-SVID chain holds \(count) certificates, more than \(Limits.certificatesPerChainMax)")
        }
    }

    /// The leaf rules; returns the leaf's SPIFFE ID.
    ///
    /// - Exactly one URI SAN, which is a SPIFFE ID with a non-root path (X509-SVID.md §2, §4.1).
    /// - basicConstraints cA is false (§4.1).
    /// - keyUsage is present, sets digitalSignature and sets neither keyCertSign nor cRLSign (§4.3).
    ///
    /// Not checked, like go-spiffe: that keyUsage is marked critical, and the EKU SHOULD of §4.4 —
    /// enforcing either would reject SVIDs every other SPIFFE implementation accepts.
    static func checkLeaf(_ leaf: Certificate) throws(SPIFFEError) -> SPIFFEID {
        let id = try leafID(leaf)
        if id.isTrustDomainID {
            throw SPIFFEError(
                .invalidLeaf,
                "certificate 0 (leaf) has SPIFFE ID \(id) with a root path; a leaf ID must have a path (X509-SVID §4.1)")
        }
        if case .isCertificateAuthority = try basicConstraints(of: leaf, position: 0) {
            throw SPIFFEError(.invalidLeaf, "certificate 0 (leaf) has CA=true; a leaf must not be a CA (X509-SVID §4.1)")
        }
        guard let usage = try keyUsage(of: leaf, position: 0) else {
            throw SPIFFEError(
                .invalidLeaf, "certificate 0 (leaf) has no key usage extension; it is required (X509-SVID §4.3)")
        }
        guard usage.digitalSignature else {
            throw SPIFFEError(
                .invalidLeaf, "certificate 0 (leaf) key usage lacks digitalSignature, which is required (X509-SVID §4.3)")
        }
        if usage.keyCertSign {
            throw SPIFFEError(
                .invalidLeaf, "certificate 0 (leaf) key usage sets keyCertSign, which a leaf must not (X509-SVID §4.3)")
        }
        if usage.cRLSign {
            throw SPIFFEError(
                .invalidLeaf, "certificate 0 (leaf) key usage sets cRLSign, which a leaf must not (X509-SVID §4.3)")
        }
        return id
    }

    /// Every certificate after the leaf must be a CA allowed to sign certificates (X509-SVID.md
    /// §4.1, §4.3; go-spiffe's `validateSigningCertificates`).
    static func checkSigningCertificates(_ chain: [Certificate]) throws(SPIFFEError) {
        for position in chain.indices.dropFirst() {
            let certificate = chain[position]
            guard case .isCertificateAuthority = try basicConstraints(of: certificate, position: position) else {
                throw SPIFFEError(
                    .invalidSigningCertificate,
                    "certificate \(position) signs the chain but is not a CA (CA=false or no basic constraints)")
            }
            guard let usage = try keyUsage(of: certificate, position: position), usage.keyCertSign else {
                throw SPIFFEError(
                    .invalidSigningCertificate,
                    "certificate \(position) signs the chain but its key usage lacks keyCertSign (X509-SVID §4.3)")
            }
        }
    }

    /// The SPIFFE ID named by a leaf's single URI SAN (go-spiffe's `IDFromCert`).
    static func leafID(_ leaf: Certificate) throws(SPIFFEError) -> SPIFFEID {
        let uris = try uriSANs(of: leaf, position: 0)
        guard uris.count == 1 else {
            let count = uris.isEmpty ? "no URI SAN" : "\(uris.count) URI SANs"
            throw SPIFFEError(.invalidLeaf, "certificate 0 (leaf) has \(count); an X509-SVID has exactly one (X509-SVID §2)")
        }
        do {
            return try SPIFFEID(parsing: uris[0])
        } catch {
            throw SPIFFEError(.invalidSPIFFEID, "certificate 0 (leaf) URI SAN is not a SPIFFE ID: \(error)")
        }
    }

    // MARK: - Extension decoding

    static func uriSANs(of certificate: Certificate, position: Int) throws(SPIFFEError) -> [String] {
        let names: SubjectAlternativeNames?
        do {
            names = try certificate.extensions.subjectAlternativeNames
        } catch {
            throw SPIFFEError(.malformedCertificate, "certificate \(position) has an undecodable SAN extension: \(error)")
        }
        return (names ?? SubjectAlternativeNames()).compactMap { name in
            if case .uniformResourceIdentifier(let uri) = name { uri } else { nil }
        }
    }

    /// Absent basic constraints mean "not a CA" (RFC 5280 §4.2.1.9).
    static func basicConstraints(of certificate: Certificate, position: Int) throws(SPIFFEError) -> BasicConstraints {
        do {
            return try certificate.extensions.basicConstraints ?? .notCertificateAuthority
        } catch {
            throw SPIFFEError(
                .malformedCertificate, "certificate \(position) has an undecodable basic constraints extension: \(error)")
        }
    }

    static func keyUsage(of certificate: Certificate, position: Int) throws(SPIFFEError) -> KeyUsage? {
        do {
            return try certificate.extensions.keyUsage
        } catch {
            throw SPIFFEError(.malformedCertificate, "certificate \(position) has an undecodable key usage extension: \(error)")
        }
    }
}
