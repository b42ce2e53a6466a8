import SPIFFE
import X509

extension X509PoPVerifier {
    /// Reads `ca_bundle_path`/`ca_bundle_paths` at start-up: PEM certificates, at least one per
    /// file. Errors name the file, so a typo in the config is found before any agent attests.
    public static func load(trustDomain: TrustDomain, caBundlePaths: [String]) throws(AttestationError) -> X509PoPVerifier {
        precondition(!caBundlePaths.isEmpty, "the config parser requires ca_bundle_path for x509pop")
        var authorities: [Certificate] = []
        for path in caBundlePaths {
            authorities += try X509PoP.certificates(inPEMFile: path, what: "ca_bundle_path")
        }
        return X509PoPVerifier(trustDomain: trustDomain, authorities: authorities)
    }
}

extension X509PoP {
    /// The PEM certificates of a configured file; none is an error.
    public static func certificates(inPEMFile path: String, what: String) throws(AttestationError) -> [Certificate] {
        let certificates: [Certificate]
        do {
            certificates = try CertificateCoding.certificates(pem: try readPEMFile(path, what: what))
        } catch let error as AttestationError {
            throw error
        } catch {
            throw AttestationError(.unreadableFile, "\(what) \(path): \(error)")
        }
        guard !certificates.isEmpty else { throw AttestationError(.unreadableFile, "\(what) \(path): no PEM certificate in the file") }
        return certificates
    }
}
