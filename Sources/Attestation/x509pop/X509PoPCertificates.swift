import SPIFFE
import X509

extension X509PoP {
    /// The certificates of a configured PEM file's text (`ca_bundle_path`, `certificate_path`,
    /// `intermediates_path`); none is an error. The shell reads the file; `source` names the
    /// config key and the path in errors.
    public static func certificates(pem: String, source: String) throws(AttestationError) -> [Certificate] {
        let certificates: [Certificate]
        do {
            certificates = try CertificateCoding.certificates(pem: pem)
        } catch {
            throw AttestationError(.unreadableFile, "\(source): \(error)")
        }
        guard !certificates.isEmpty else { throw AttestationError(.unreadableFile, "\(source): no PEM certificate in the file") }
        return certificates
    }
}
