import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import X509
import _CryptoExtras

/// Key families the test PKI can mint.
enum TestKeyKind: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case p256, p384, rsa2048, ed25519

    var description: String { rawValue }

    func makeKey() throws -> SVIDPrivateKey {
        switch self {
        case .p256: SVIDPrivateKey(P256.Signing.PrivateKey())
        case .p384: SVIDPrivateKey(P384.Signing.PrivateKey())
        case .rsa2048: SVIDPrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .ed25519: SVIDPrivateKey(Curve25519.Signing.PrivateKey())
        }
    }
}

/// A small certificate factory for tests: a CA and leaves built with swift-certificates, where
/// every SVID-relevant field is a knob, so a test can break exactly one rule of one certificate.
///
/// All certificates are valid around `TestPKI.now`, a fixed instant: tests pass it to
/// verification instead of reading a clock.
enum TestPKI {
    /// 2030-01-01T00:00:00Z.
    static let now = Date(timeIntervalSince1970: 1_893_456_000)

    /// A certificate together with the key it certifies.
    struct Issued: Sendable {
        var certificate: Certificate
        var key: SVIDPrivateKey
    }

    /// Everything a test may want to vary about one certificate.
    struct Options: Sendable {
        /// URI SANs, in order. Empty means no URI SAN (the SAN extension is then omitted
        /// entirely unless `dnsNames` is set).
        var uris: [String]
        var dnsNames: [String] = []
        /// nil omits the basic constraints extension.
        var isCA: Bool?
        /// nil omits the key usage extension.
        var keyUsage: KeyUsage?
        var extendedKeyUsage: [ExtendedKeyUsage.Usage] = []
        var notBefore = TestPKI.now - 3600
        var notAfter = TestPKI.now + 3600
        var keyKind = TestKeyKind.p256
        /// An empty subject, with the SAN extension marked critical as X509-SVID §2 requires.
        var emptySubjectCriticalSAN = false
        var commonName = "test"

        /// SPIRE's leaf template (SPIFFE-WIRE §2.2).
        static func leaf(_ id: String) -> Options {
            Options(
                uris: [id], isCA: false,
                keyUsage: KeyUsage(digitalSignature: true, keyEncipherment: true, keyAgreement: true),
                extendedKeyUsage: [.serverAuth, .clientAuth], commonName: "leaf")
        }

        /// SPIRE's CA template: CA, certSign|cRLSign, URI SAN `spiffe://td`.
        static func authority(_ trustDomain: String, name: String = "ca") -> Options {
            Options(
                uris: ["spiffe://\(trustDomain)"], isCA: true,
                keyUsage: KeyUsage(keyCertSign: true, cRLSign: true), commonName: name)
        }
    }

    /// A self-signed authority.
    static func root(_ options: Options) throws -> Issued {
        let key = try options.keyKind.makeKey()
        let subject = try name(options)
        let certificate = try make(options, key: key, subject: subject, issuerName: subject, issuerKey: key)
        return Issued(certificate: certificate, key: key)
    }

    /// A certificate signed by `issuer`. `key` overrides the freshly generated subject key.
    static func issue(_ options: Options, by issuer: Issued, key: SVIDPrivateKey? = nil) throws -> Issued {
        let key = try key ?? options.keyKind.makeKey()
        let certificate = try make(
            options, key: key, subject: try name(options), issuerName: issuer.certificate.subject,
            issuerKey: issuer.key)
        return Issued(certificate: certificate, key: key)
    }

    static func make(
        _ options: Options, key: SVIDPrivateKey, subject: DistinguishedName, issuerName: DistinguishedName,
        issuerKey: SVIDPrivateKey
    ) throws -> Certificate {
        try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: key.publicKey,
            notValidBefore: options.notBefore,
            notValidAfter: options.notAfter,
            issuer: issuerName,
            subject: subject,
            signatureAlgorithm: signatureAlgorithm(for: issuerKey),
            extensions: try extensions(options, key: key),
            issuerPrivateKey: issuerKey.certificatePrivateKey)
    }

    static func extensions(_ options: Options, key: SVIDPrivateKey) throws -> Certificate.Extensions {
        var list: [Certificate.Extension] = []
        if let isCA = options.isCA {
            let constraints: BasicConstraints =
                isCA ? .isCertificateAuthority(maxPathLength: nil) : .notCertificateAuthority
            list.append(try Certificate.Extension(constraints, critical: true))
        }
        if let keyUsage = options.keyUsage {
            list.append(try Certificate.Extension(keyUsage, critical: true))
        }
        if !options.extendedKeyUsage.isEmpty {
            list.append(try Certificate.Extension(ExtendedKeyUsage(options.extendedKeyUsage), critical: false))
        }
        let names = options.uris.map(GeneralName.uniformResourceIdentifier) + options.dnsNames.map(GeneralName.dnsName)
        if !names.isEmpty {
            list.append(
                try Certificate.Extension(
                    SubjectAlternativeNames(names), critical: options.emptySubjectCriticalSAN))
        }
        return try Certificate.Extensions(list)
    }

    /// A unique subject per certificate, so chain building never confuses two test CAs.
    static func name(_ options: Options) throws -> DistinguishedName {
        if options.emptySubjectCriticalSAN { return DistinguishedName() }
        return try DistinguishedName {
            CountryName("US")
            OrganizationName("SPIFFE")
            CommonName("\(options.commonName)-\(UUID().uuidString)")
        }
    }

    static func signatureAlgorithm(for key: SVIDPrivateKey) -> Certificate.SignatureAlgorithm {
        switch key.algorithm {
        case .ecdsaP256: .ecdsaWithSHA256
        case .ecdsaP384: .ecdsaWithSHA384
        case .ecdsaP521: .ecdsaWithSHA512
        case .rsa: .sha256WithRSAEncryption
        case .ed25519: .ed25519
        }
    }
}

/// A root, optional intermediates and a leaf, each built from `TestPKI.Options` that a test may
/// edit before the chain is made.
struct TestChain {
    var root: TestPKI.Issued
    /// Nearest the leaf first.
    var intermediates: [TestPKI.Issued]
    var leaf: TestPKI.Issued

    /// Leaf first, then intermediates: what an SVID carries (the root stays in the bundle).
    var certificates: [Certificate] { [leaf.certificate] + intermediates.map(\.certificate) }

    /// A chain in `example.org` for `spiffe://example.org/workload`.
    ///
    /// - Parameters:
    ///   - intermediates: how many CAs sit between root and leaf.
    ///   - rootOptions / intermediate / leaf: edit the options of one certificate to break one rule.
    ///     Pass them with their labels: with every closure defaulted, an unlabelled trailing
    ///     closure would bind to `rootOptions`.
    static func make(
        trustDomain: String = "example.org",
        id: String? = nil,
        intermediates count: Int = 0,
        rootOptions: (inout TestPKI.Options) -> Void = { _ in },
        intermediate: (Int, inout TestPKI.Options) -> Void = { _, _ in },
        leaf: (inout TestPKI.Options) -> Void = { _ in }
    ) throws -> TestChain {
        var options = TestPKI.Options.authority(trustDomain, name: "root")
        rootOptions(&options)
        let root = try TestPKI.root(options)
        var issuer = root
        var built: [TestPKI.Issued] = []
        for index in 0..<count {
            var options = TestPKI.Options.authority(trustDomain, name: "intermediate\(index)")
            intermediate(index, &options)
            issuer = try TestPKI.issue(options, by: issuer)
            built.insert(issuer, at: 0)
        }
        var leafOptions = TestPKI.Options.leaf(id ?? "spiffe://\(trustDomain)/workload")
        leaf(&leafOptions)
        let leafIssued = try TestPKI.issue(leafOptions, by: issuer)
        return TestChain(root: root, intermediates: built, leaf: leafIssued)
    }

    func bundle(_ trustDomain: String = "example.org") throws -> X509Bundle {
        X509Bundle(trustDomain: try TrustDomain(trustDomain), authorities: [root.certificate])
    }

    /// The chain as the Workload API carries it: concatenated DER and PKCS#8 DER.
    func derEncoded() throws -> (certificates: [UInt8], privateKey: [UInt8]) {
        (try CertificateCoding.der(certificates), leaf.key.derEncoded())
    }

    func svid() throws -> X509SVID {
        try X509SVID(certificates: certificates, privateKey: leaf.key)
    }
}

/// A bundle source over several trust domains, standing in for a bundle set.
struct TestBundleSource: X509BundleSource {
    var bundles: [TrustDomain: X509Bundle]

    init(_ bundles: [X509Bundle]) {
        self.bundles = Dictionary(uniqueKeysWithValues: bundles.map { ($0.trustDomain, $0) })
    }

    func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle? { bundles[trustDomain] }
}

/// A misbehaving source that answers every trust domain with the same bundle.
struct FixedBundleSource: X509BundleSource {
    var bundle: X509Bundle
    func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle? { bundle }
}
