import Attestation
import Crypto
import Foundation
import SwiftASN1
import X509
import _CryptoExtras

/// Certificates for x509pop tests, made with swift-certificates: CAs, intermediates and node
/// leaves with the knobs the rejections need (validity, key usage, SANs, odd keys).
enum NodePKI {
    static let now = Date(timeIntervalSince1970: 1_750_000_000)

    struct Authority {
        let certificate: Certificate
        let key: P256.Signing.PrivateKey
        var der: [UInt8] { NodePKI.der(certificate) }
    }

    static func der(_ certificate: Certificate) -> [UInt8] {
        var serializer = DER.Serializer()
        try! serializer.serialize(certificate)
        return serializer.serializedBytes
    }

    static func root(_ name: String = "node-ca") throws -> Authority {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName { CommonName(name) }
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 86_400, notValidAfter: now + 86_400, issuer: subject, subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        return Authority(certificate: certificate, key: key)
    }

    static func intermediate(_ name: String, issuer: Authority) throws -> Authority {
        let key = P256.Signing.PrivateKey()
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now - 3_600, notValidAfter: now + 3_600, issuer: issuer.certificate.subject,
            subject: try DistinguishedName { CommonName(name) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                AuthorityKeyIdentifier(keyIdentifier: try issuer.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(issuer.key))
        return Authority(certificate: certificate, key: key)
    }

    static func leaf(
        publicKey: Certificate.PublicKey, issuer: Authority, commonName: String = "node-1",
        serial: [UInt8] = [0x0a, 0xbc], digitalSignature: Bool = true, uris: [String] = [], dnsNames: [String] = [],
        notValidBefore: Date = now - 60, notValidAfter: Date = now + 3_600
    ) throws -> Certificate {
        var names: [GeneralName] = uris.map { .uniformResourceIdentifier($0) }
        names += dnsNames.map { .dnsName($0) }
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: publicKey,
            notValidBefore: notValidBefore, notValidAfter: notValidAfter, issuer: issuer.certificate.subject,
            subject: try DistinguishedName { CommonName(commonName) }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: digitalSignature, keyEncipherment: !digitalSignature))
                AuthorityKeyIdentifier(keyIdentifier: try issuer.certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: .init(issuer.key))
    }

    static func payload(_ chain: [Certificate]) -> [UInt8] {
        X509PoP.attestationPayload(chainDER: chain.map(der))
    }

    /// `certificate`'s DER with its SubjectPublicKeyInfo replaced by an RSA key of `bits` bits that
    /// nobody holds (an odd modulus with the top bit set). No crypto library would parse such a
    /// key (BoringSSL stops at 8192 bits), and the signature no longer matches: only a bound that
    /// reads the DER first can name what is wrong.
    static func withRSAKey(bits: Int, _ certificate: Certificate) throws -> [UInt8] {
        var modulus = [UInt8](repeating: 0x5a, count: bits / 8)
        modulus[0] = 0xc1
        modulus[modulus.count - 1] = 0x3b
        var rsaKey = DER.Serializer()
        try rsaKey.appendConstructedNode(identifier: .sequence) { coder in
            try coder.serialize(ArraySlice(modulus))
            try coder.serialize(65_537)
        }
        var spki = DER.Serializer()
        try spki.appendConstructedNode(identifier: .sequence) { coder in
            try coder.appendConstructedNode(identifier: .sequence) { algorithm in
                try algorithm.serialize(ASN1ObjectIdentifier("1.2.840.113549.1.1.1"))
                try algorithm.serialize(ASN1Null())
            }
            try coder.serialize(ASN1BitString(bytes: ArraySlice(rsaKey.serializedBytes)))
        }
        let parsed = try DER.parse(NodePKI.der(certificate))
        guard case .constructed(let parts) = parsed.content else { throw ASN1Error.invalidASN1Object(reason: "not a certificate") }
        let certificateParts = Array(parts)
        guard case .constructed(let tbsParts) = certificateParts[0].content else { throw ASN1Error.invalidASN1Object(reason: "no TBS") }
        var output = DER.Serializer()
        output.appendConstructedNode(identifier: .sequence) { coder in
            coder.appendConstructedNode(identifier: .sequence) { tbs in
                // version, serial, signature, issuer, validity, subject, then the new key.
                for (index, field) in tbsParts.enumerated() {
                    if index == 6 { tbs.serializeRawBytes(spki.serializedBytes) } else { tbs.serialize(field) }
                }
            }
            for field in certificateParts.dropFirst() { coder.serialize(field) }
        }
        return output.serializedBytes
    }
}

/// A fixed-sequence generator, so challenges are reproducible.
struct CountingGenerator: RandomNumberGenerator {
    var state: UInt64 = 0x9e37_79b9_7f4a_7c15
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        return state
    }
}
