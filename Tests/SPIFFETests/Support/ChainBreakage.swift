import SPIFFE
import Testing
import X509

/// One rule of X509-SVID.md §4 (SPIFFE-WIRE §1.6, §2.2, §5.3) broken on exactly one certificate
/// of an otherwise valid chain. Parsing and verification must both reject each case with the code
/// and reason given, so removing any single check makes exactly its own case fail.
enum ChainBreakage: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case leafWithoutSAN
    case leafWithoutURISAN
    case leafWithTwoURISANs
    case leafURISANNotSPIFFE
    case leafRootPath
    case leafIsCA
    case leafKeyCertSign
    case leafCRLSign
    case leafWithoutDigitalSignature
    case leafWithoutKeyUsage
    case intermediateNotCA
    case intermediateWithoutBasicConstraints
    case intermediateWithoutKeyCertSign
    case intermediateWithoutKeyUsage

    var testDescription: String { rawValue }

    var expectedCode: SPIFFEError.Code {
        switch self {
        case .leafURISANNotSPIFFE: .invalidSPIFFEID
        case .intermediateNotCA, .intermediateWithoutBasicConstraints, .intermediateWithoutKeyCertSign,
            .intermediateWithoutKeyUsage:
            .invalidSigningCertificate
        default: .invalidLeaf
        }
    }

    /// A fragment of the reason that names the broken rule and the certificate's position.
    var expectedReason: String {
        switch self {
        case .leafWithoutSAN, .leafWithoutURISAN: "certificate 0 (leaf) has no URI SAN"
        case .leafWithTwoURISANs: "certificate 0 (leaf) has 2 URI SANs"
        case .leafURISANNotSPIFFE: "certificate 0 (leaf) URI SAN is not a SPIFFE ID"
        case .leafRootPath: "with a root path"
        case .leafIsCA: "certificate 0 (leaf) has CA=true"
        case .leafKeyCertSign: "sets keyCertSign"
        case .leafCRLSign: "sets cRLSign"
        case .leafWithoutDigitalSignature: "lacks digitalSignature"
        case .leafWithoutKeyUsage: "has no key usage extension"
        case .intermediateNotCA, .intermediateWithoutBasicConstraints: "certificate 1 signs the chain but is not a CA"
        case .intermediateWithoutKeyCertSign, .intermediateWithoutKeyUsage:
            "certificate 1 signs the chain but its key usage lacks keyCertSign"
        }
    }

    /// A root → intermediate → leaf chain in `example.org` with this one rule broken.
    func makeChain() throws -> TestChain {
        try TestChain.make(
            intermediates: 1, intermediate: { _, options in breakIntermediate(&options) },
            leaf: { options in breakLeaf(&options) })
    }

    private func breakLeaf(_ options: inout TestPKI.Options) {
        switch self {
        case .leafWithoutSAN: options.uris = []
        case .leafWithoutURISAN:
            options.uris = []
            options.dnsNames = ["workload.example.org"]
        case .leafWithTwoURISANs: options.uris.append("spiffe://example.org/other")
        case .leafURISANNotSPIFFE: options.uris = ["https://example.org/workload"]
        case .leafRootPath: options.uris = ["spiffe://example.org"]
        case .leafIsCA: options.isCA = true
        case .leafKeyCertSign: options.keyUsage?.keyCertSign = true
        case .leafCRLSign: options.keyUsage?.cRLSign = true
        case .leafWithoutDigitalSignature: options.keyUsage?.digitalSignature = false
        case .leafWithoutKeyUsage: options.keyUsage = nil
        default: break
        }
    }

    private func breakIntermediate(_ options: inout TestPKI.Options) {
        switch self {
        case .intermediateNotCA: options.isCA = false
        case .intermediateWithoutBasicConstraints: options.isCA = nil
        case .intermediateWithoutKeyCertSign: options.keyUsage?.keyCertSign = false
        case .intermediateWithoutKeyUsage: options.keyUsage = nil
        default: break
        }
    }
}

/// The two encodings an SVID travels in.
enum SVIDEncoding: String, CaseIterable, Sendable {
    /// Workload API: concatenated DER + PKCS#8 DER.
    case der
    /// SDS and files: PEM blocks.
    case pem

    func parse(_ chain: TestChain) throws -> X509SVID {
        switch self {
        case .der:
            let (certificates, privateKey) = try chain.derEncoded()
            return try X509SVID(derEncoded: certificates, privateKey: privateKey)
        case .pem:
            return try X509SVID(
                parsing: CertificateCoding.pem(chain.certificates), privateKey: chain.leaf.key.pemEncoded())
        }
    }
}
