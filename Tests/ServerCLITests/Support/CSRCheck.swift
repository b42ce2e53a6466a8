import SwiftASN1
import X509

/// Reads the SAN URIs and DNS names out of the CSR the CLI sent.
enum CertificateSigningRequestCheck {
    static func sans(_ der: [UInt8]) throws -> [String] {
        let request = try CertificateSigningRequest(derEncoded: der)
        guard let extensions = try request.attributes.extensionRequest?.extensions,
            let names = try extensions.subjectAlternativeNames
        else { return [] }
        return names.compactMap { name in
            switch name {
            case .uniformResourceIdentifier(let uri): uri
            case .dnsName(let dns): dns
            default: nil
            }
        }
    }
}
