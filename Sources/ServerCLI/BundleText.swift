import SPIFFE
import SwiftASN1
import Wire
import X509

/// SPIRE's bundle text (`cmd/spire-server/cli/bundle/common.go`): PEM certificates, or the SPIFFE
/// bundle document indented with four spaces, optionally under a trust domain banner.
enum BundleText {
    static let formatPEM = "pem"
    static let formatSPIFFE = "spiffe"

    static func validateFormat(_ format: String) throws(CLIFailure) -> String {
        let format = format.isEmpty ? formatPEM : format.lowercased()
        guard format == formatPEM || format == formatSPIFFE else {
            throw CLIFailure("invalid format: \(GoFormat.quoted(format))")
        }
        return format
    }

    static func text(_ bundle: Spire_Api_Types_Bundle, format: String, header: Bool) throws(CLIFailure) -> String {
        let format = try validateFormat(format)
        var text = ""
        if header {
            let rule = String(repeating: "*", count: 40)
            text += "\(rule)\n* \(bundle.trustDomain)\n\(rule)\n"
        }
        if format == formatPEM {
            for authority in bundle.x509Authorities {
                do {
                    for certificate in try CertificateCoding.certificates(der: Array(authority.asn1)) {
                        text += GoFormat.pem("CERTIFICATE", try CertificateCoding.der(certificate))
                    }
                } catch {
                    throw CLIFailure("unable to parse certificates ASN.1 DER data: \(error.reason)")
                }
            }
            return text
        }
        let document: JSONValue
        let spiffe = try spiffeBundle(bundle)
        do { document = try spiffe.jsonValue() } catch { throw CLIFailure(error.reason) }
        return text + GoJSON.indented(document, indent: "    ", order: goJoseOrder) + "\n"
    }

    /// The proto as a go-spiffe bundle, failing as SPIRE's `bundleFromProto` does.
    static func spiffeBundle(_ proto: Spire_Api_Types_Bundle) throws(CLIFailure) -> SPIFFEBundle {
        let trustDomain: TrustDomain
        do { trustDomain = try TrustDomain(parsing: proto.trustDomain) } catch { throw CLIFailure(error.reason) }
        var x509Authorities: [Certificate] = []
        for (index, authority) in proto.x509Authorities.enumerated() {
            do {
                x509Authorities.append(try Certificate(derEncoded: Array(authority.asn1)))
            } catch {
                throw CLIFailure("unable to parse root CA \(index): \(error)")
            }
        }
        var jwtAuthorities: [String: Certificate.PublicKey] = [:]
        for key in proto.jwtAuthorities {
            do {
                jwtAuthorities[key.keyID] = try Certificate.PublicKey(derEncoded: Array(key.publicKey))
            } catch {
                throw CLIFailure("failed to parse JWT authority \(GoFormat.quoted(key.keyID)): \(error)")
            }
        }
        do {
            return try SPIFFEBundle(
                trustDomain: trustDomain, x509Authorities: x509Authorities, jwtAuthorities: jwtAuthorities,
                sequenceNumber: proto.sequenceNumber > 0 ? proto.sequenceNumber : nil,
                refreshHintSeconds: proto.refreshHint > 0 ? proto.refreshHint : nil)
        } catch {
            throw CLIFailure(error.reason)
        }
    }

    /// go-spiffe marshals the document as a struct (keys, then sequence, then refresh hint) and each
    /// JWK in go-jose's field order; any other member follows by name.
    static func goJoseOrder(_ names: [String]) -> [String] {
        let preferred = [
            "keys", "spiffe_sequence", "spiffe_refresh_hint", "use", "kty", "kid", "crv", "alg", "k", "x", "y", "n", "e",
            "x5c",
        ]
        let known = preferred.filter(names.contains)
        return known + GoJSON.sortedByName(names.filter { !preferred.contains($0) })
    }

    /// `bundle set -format pem|spiffe`: SPIRE's `util.ParseBundle`. A PEM bundle keeps `-id` as
    /// given as its trust domain (SPIRE does not normalise it); a SPIFFE bundle uses the name.
    static func parse(_ bytes: [UInt8], format: String, id: String) throws(CLIFailure) -> Spire_Api_Types_Bundle {
        var proto = Spire_Api_Types_Bundle()
        if format == formatPEM {
            let certificates: [Certificate]
            do {
                certificates = try CertificateCoding.certificates(pem: String(decoding: bytes, as: UTF8.self))
            } catch {
                throw CLIFailure("unable to parse bundle data: \(error.reason)")
            }
            proto.trustDomain = id
            for certificate in certificates {
                var authority = Spire_Api_Types_X509Certificate()
                do { authority.asn1 = .init(try CertificateCoding.der(certificate)) } catch { throw CLIFailure(error.reason) }
                proto.x509Authorities.append(authority)
            }
            return proto
        }
        let bundle: SPIFFEBundle
        do {
            bundle = try SPIFFEBundle(trustDomain: try TrustDomain(parsing: id), jsonEncoded: bytes)
        } catch let error as SPIFFEIDError {
            throw CLIFailure(error.reason)
        } catch let error as SPIFFEError {
            throw CLIFailure("unable to parse to spiffe bundle: \(error.reason)")
        } catch {
            throw CLIFailure("unable to parse to spiffe bundle: \(error)")
        }
        proto.trustDomain = bundle.trustDomain.name
        for certificate in bundle.x509Authorities {
            var authority = Spire_Api_Types_X509Certificate()
            do { authority.asn1 = .init(try CertificateCoding.der(certificate)) } catch { throw CLIFailure(error.reason) }
            proto.x509Authorities.append(authority)
        }
        for (keyID, publicKey) in bundle.jwtAuthorities.sorted(by: { $0.key < $1.key }) {
            var key = Spire_Api_Types_JWTKey()
            key.keyID = keyID
            do {
                var serializer = DER.Serializer()
                try serializer.serialize(publicKey)
                key.publicKey = .init(serializer.serializedBytes)
            } catch {
                throw CLIFailure("unable to parse to type bundle: \(error)")
            }
            proto.jwtAuthorities.append(key)
        }
        proto.refreshHint = bundle.refreshHintSeconds ?? 0
        proto.sequenceNumber = bundle.sequenceNumber ?? 0
        return proto
    }
}
