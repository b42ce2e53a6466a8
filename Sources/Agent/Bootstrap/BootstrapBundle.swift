import Config
import SPIFFE
import X509

/// The bundle an agent trusts the server with before its first sync (`trust_bundle_path` or
/// `trust_bundle_url`, in `trust_bundle_format`). Pure: the caller reads the bytes.
///
/// SPIRE accepts any certificates here; we also refuse a bundle that names another trust domain
/// (a server CA carries `spiffe://<td>` as its URI SAN), since such a bundle can never
/// authenticate our server and would only fail later with a less helpful TLS error.
public enum BootstrapBundle {
    /// Parses `bytes` from `source` (a path or URL, named in every error).
    public static func parse(
        _ bytes: [UInt8], format: AgentConfig.TrustBundleFormat, trustDomain: TrustDomain, source: String
    ) throws(AgentRunError) -> X509Bundle {
        guard bytes.count <= Limits.bootstrapBundleBytesMax else {
            throw AgentRunError("trust bundle \(source) is larger than \(Limits.bootstrapBundleBytesMax) bytes")
        }
        let bundle: X509Bundle
        do {
            switch format {
            case .pem:
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw AgentRunError("trust bundle \(source) is not PEM text (trust_bundle_format = \"pem\")")
                }
                bundle = try X509Bundle(trustDomain: trustDomain, pemEncoded: text)
            case .spiffe:
                bundle = try SPIFFEBundle(trustDomain: trustDomain, jsonEncoded: bytes).x509Bundle
            }
        } catch let error as AgentRunError {
            throw error
        } catch {
            throw AgentRunError("trust bundle \(source) is not a \(format.rawValue.uppercased()) bundle: \(error)")
        }
        guard !bundle.isEmpty else {
            throw AgentRunError("trust bundle \(source) holds no X.509 authority")
        }
        for authority in bundle.authorities {
            for named in spiffeTrustDomains(of: authority) where named != trustDomain {
                throw AgentRunError(
                    "trust bundle \(source) is for trust domain \"\(named.name)\", not \"\(trustDomain.name)\" "
                        + "(authority \(authority.subject))")
            }
        }
        return bundle
    }

    /// The trust domains an authority names in `spiffe://` URI SANs (none for a plain CA).
    static func spiffeTrustDomains(of certificate: Certificate) -> [TrustDomain] {
        guard let names = try? certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            guard case .uniformResourceIdentifier(let uri) = name, uri.lowercased().hasPrefix("spiffe://") else { return nil }
            // `spiffe://td` (a CA) or a full SPIFFE ID; a malformed one claims no trust domain.
            return try? TrustDomain(parsing: uri)
        }
    }
}
