import SwiftASN1

/// Reads a certificate's SubjectPublicKeyInfo straight from its DER, so a key's size is judged
/// before any crypto library parses the key: BoringSSL refuses RSA moduli over 8192 bits with
/// an opaque error, and everything over our bound must be refused by name.
enum SubjectPublicKeyBound {
    static let rsaEncryption: ASN1ObjectIdentifier = [1, 2, 840, 113549, 1, 1, 1]

    /// Throws `.keyTooLarge` for an RSA modulus over `Limits.x509popRSAModulusBitsMax`; other key
    /// kinds are classified after parsing (`NodeKey`).
    static func check(certificateDER der: [UInt8], position: Int) throws(AttestationError) {
        let modulusBits: Int?
        do {
            modulusBits = try rsaModulusBits(certificateDER: der)
        } catch {
            throw AttestationError(.malformedCertificate, "certificate \(position) is not a DER X.509 certificate: \(error)")
        }
        if let modulusBits, modulusBits > Limits.x509popRSAModulusBitsMax {
            throw AttestationError(
                .keyTooLarge,
                "certificate \(position) has a \(modulusBits)-bit RSA key; at most \(Limits.x509popRSAModulusBitsMax) bits are accepted")
        }
    }

    /// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    /// signature, issuer, validity, subject, subjectPublicKeyInfo, … }, … } (RFC 5280 §4.1).
    static func rsaModulusBits(certificateDER der: [UInt8]) throws -> Int? {
        let certificate = try DER.parse(der)
        guard case .constructed(let certificateParts) = certificate.content,
            let tbs = certificateParts.first(where: { _ in true }), case .constructed(let tbsParts) = tbs.content
        else { throw ASN1Error.unexpectedFieldType(certificate.identifier) }
        var fields = Array(tbsParts)
        if fields.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { fields.removeFirst() }
        guard fields.count >= 6, case .constructed(let spkiParts) = fields[5].content else {
            throw ASN1Error.invalidASN1Object(reason: "no subjectPublicKeyInfo")
        }
        let spki = Array(spkiParts)
        guard spki.count == 2, case .constructed(let algorithmParts) = spki[0].content,
            let algorithmNode = algorithmParts.first(where: { _ in true })
        else { throw ASN1Error.invalidASN1Object(reason: "malformed subjectPublicKeyInfo") }
        guard try ASN1ObjectIdentifier(derEncoded: algorithmNode) == rsaEncryption else { return nil }
        let keyBits = try ASN1BitString(derEncoded: spki[1])
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 §A.1.1)
        let rsaKey = try DER.parse(Array(keyBits.bytes))
        guard case .constructed(let rsaParts) = rsaKey.content, let modulusNode = rsaParts.first(where: { _ in true }) else {
            throw ASN1Error.invalidASN1Object(reason: "malformed RSA public key")
        }
        let modulus = try ArraySlice<UInt8>(derEncoded: modulusNode).drop { $0 == 0 }
        guard let top = modulus.first else { return 0 }
        return (modulus.count - 1) * 8 + (8 - top.leadingZeroBitCount)
    }
}
