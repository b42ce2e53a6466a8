import Foundation
import SwiftASN1
import X509

/// The DER of X509-SVIDs of one authority, written directly instead of through
/// swift-certificates' generic builder.
///
/// Every SVID an authority signs has the same shape (SPIFFE-WIRE §2.2): only the serial, the
/// validity, the subject's optional CN, the key, its SKI and the SAN differ. Building it through
/// `Certificate(…issuerPrivateKey:)` cost about a fifth of the CPU of an issuance (result
/// builders, many small arrays, the key's third encoding); here the constant parts — signature
/// algorithm, issuer name, the three fixed extensions, the AKI — are DER once per authority,
/// serialized by swift-certificates itself, and each SVID only writes its own fields around
/// them. The bytes are exactly those of the builder (`CertificateTemplates.referenceX509SVID`),
/// which `SVIDEncodingTests` checks over many random inputs.
struct SVIDEncoding: Sendable {
    /// AlgorithmIdentifier of the authority's signatures.
    let signatureAlgorithmDER: [UInt8]
    /// The authority's subject: every SVID's issuer.
    let issuerDER: [UInt8]
    /// The AuthorityKeyIdentifier extension (the authority's SKI).
    let authorityKeyIdentifierDER: [UInt8]

    /// nil for a signature algorithm this encoder does not know: such an authority signs
    /// through the builder.
    init?(certificate: Certificate, subjectKeyID: [UInt8], signatureAlgorithm: Certificate.SignatureAlgorithm) {
        guard let algorithm = Self.algorithmIdentifiers[signatureAlgorithm] else { return nil }
        do {
            var issuer = DER.Serializer()
            try issuer.serialize(certificate.subject)
            var aki = DER.Serializer()
            try aki.serialize(try AuthorityKeyIdentifier(keyIdentifier: subjectKeyID[...]).makeCertificateExtension())
            self.signatureAlgorithmDER = algorithm
            self.issuerDER = issuer.serializedBytes
            self.authorityKeyIdentifierDER = aki.serializedBytes
        } catch {
            // A name and an extension parsed from a certificate, or made from 20 bytes, always encode.
            preconditionFailure("cannot encode the authority's name or AKI: \(error)")
        }
    }

    /// AlgorithmIdentifier DER of the algorithms `CertificateTemplates.signatureAlgorithm(for:)`
    /// picks (RFC 5758 §3.2: no parameters for ECDSA; RFC 4055: NULL parameters for RSA; RFC 8410).
    static let algorithmIdentifiers: [Certificate.SignatureAlgorithm: [UInt8]] = [
        .ecdsaWithSHA256: [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02],
        .ecdsaWithSHA384: [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03],
        .ecdsaWithSHA512: [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04],
        .sha256WithRSAEncryption: [
            0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B, 0x05, 0x00,
        ],
        .ed25519: [0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70],
    ]

    /// The three extensions every SVID carries first (BasicConstraints, KeyUsage, EKU), as DER.
    static let fixedExtensionsDER: [UInt8] = {
        do {
            var serializer = DER.Serializer()
            for fixed in CertificateTemplates.svidFixedExtensions { try serializer.serialize(fixed) }
            return serializer.serializedBytes
        } catch {
            preconditionFailure("the fixed X509-SVID extensions must encode: \(error)")
        }
    }()

    /// The RDNs `C=US`, `O=SPIRE` of every SVID subject, without the Name's SEQUENCE header.
    static let subjectPrefixDER: [UInt8] = {
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(try CertificateTemplates.svidName(commonName: nil))
            let name = serializer.serializedBytes
            // The whole Name is a SEQUENCE whose content is these RDNs (a short form length).
            precondition(name.count >= 2 && name[0] == 0x30 && Int(name[1]) == name.count - 2, "unexpected SVID subject encoding")
            return Array(name[2...])
        } catch {
            preconditionFailure("the SVID subject must encode: \(error)")
        }
    }()

    /// The TBSCertificate DER of an SVID. `notBefore` and `notAfter` are whole seconds since the
    /// epoch (rounded as swift-certificates rounds a `Date`).
    func tbsCertificate(
        serialNumber: ArraySlice<UInt8>, notBefore: Int64, notAfter: Int64, commonName: String?,
        subjectPublicKeyInfoDER: [UInt8], subjectKeyIdentifier: ArraySlice<UInt8>, uri: String, dnsNames: [String]
    ) -> [UInt8] {
        var out = DERWriter(capacity: 640 + subjectPublicKeyInfoDER.count + dnsNames.reduce(0) { $0 + $1.utf8.count + 4 })
        out.nested(0x30) { tbs in
            tbs.append(raw: [0xA0, 0x03, 0x02, 0x01, 0x02])  // [0] EXPLICIT version v3 (2)
            // `SerialNumber.bytes` is the magnitude; DER needs the sign octet when the top bit is
            // set (a serial is positive), which is what swift-certificates' encoder adds too.
            if let first = serialNumber.first, first & 0x80 != 0 {
                tbs.append(0x02, CollectionOfOne(UInt8(0)) + serialNumber)
            } else {
                tbs.append(0x02, serialNumber)
            }
            tbs.append(raw: signatureAlgorithmDER)
            tbs.append(raw: issuerDER)
            tbs.nested(0x30) { validity in
                Self.appendTime(notBefore, to: &validity)
                Self.appendTime(notAfter, to: &validity)
            }
            tbs.nested(0x30) { subject in
                subject.append(raw: Self.subjectPrefixDER)
                if let commonName {
                    // SET { SEQUENCE { id-at-commonName, UTF8String } }, as `CommonName` encodes it.
                    subject.nested(0x31) { set in
                        set.nested(0x30) { attribute in
                            attribute.append(raw: [0x06, 0x03, 0x55, 0x04, 0x03])
                            attribute.append(0x0C, commonName.utf8)
                        }
                    }
                }
            }
            tbs.append(raw: subjectPublicKeyInfoDER)
            tbs.nested(0xA3) { explicit in  // [3] EXPLICIT Extensions
                explicit.nested(0x30) { extensions in
                    extensions.append(raw: Self.fixedExtensionsDER)
                    // SubjectKeyIdentifier: OCTET STRING holding the key identifier OCTET STRING; not critical.
                    extensions.nested(0x30) { ski in
                        ski.append(raw: [0x06, 0x03, 0x55, 0x1D, 0x0E])
                        ski.nested(0x04) { $0.append(0x04, subjectKeyIdentifier) }
                    }
                    extensions.append(raw: authorityKeyIdentifierDER)
                    // SubjectAltName: the URI ([6] IA5String) then the DNS names ([2] IA5String), in order.
                    extensions.nested(0x30) { san in
                        san.append(raw: [0x06, 0x03, 0x55, 0x1D, 0x11])
                        san.nested(0x04) { value in
                            value.nested(0x30) { names in
                                names.append(0x86, uri.utf8)
                                for name in dnsNames { names.append(0x82, name.utf8) }
                            }
                        }
                    }
                }
            }
        }
        return out.bytes
    }

    /// Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature BIT STRING }.
    func certificate(tbs: [UInt8], signature: [UInt8]) -> [UInt8] {
        var out = DERWriter(capacity: tbs.count + signatureAlgorithmDER.count + signature.count + 16)
        out.nested(0x30) { certificate in
            certificate.append(raw: tbs)
            certificate.append(raw: signatureAlgorithmDER)
            certificate.nested(0x03) { bits in
                bits.append(raw: [0x00])  // no unused bits
                bits.append(raw: signature)
            }
        }
        return out.bytes
    }

    // MARK: - Times

    /// UTCTime for 1950 through 2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5), both in
    /// whole seconds with a `Z`.
    static func appendTime(_ seconds: Int64, to out: inout DERWriter) {
        let (year, month, day, hour, minute, second) = civil(seconds)
        var digits: [UInt8] = []
        func two(_ value: Int) {
            digits.append(UInt8(ascii: "0") + UInt8(value / 10))
            digits.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        let utc = (1950..<2050).contains(year)
        if utc {
            two(year % 100)
        } else {
            precondition((0...9999).contains(year), "a certificate time has a four-digit year")
            two(year / 100)
            two(year % 100)
        }
        two(month); two(day); two(hour); two(minute); two(second)
        digits.append(UInt8(ascii: "Z"))
        out.append(utc ? 0x17 : 0x18, digits)
    }

    /// The UTC calendar date and time of `seconds` since the epoch (proleptic Gregorian; the
    /// days-to-civil algorithm of H. Hinnant's `chrono` date paper).
    static func civil(_ seconds: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let secondsPerDay: Int64 = 86_400
        var days = seconds / secondsPerDay
        var within = seconds % secondsPerDay
        if within < 0 {
            within += secondsPerDay
            days -= 1
        }
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day), Int(within / 3600), Int(within % 3600 / 60), Int(within % 60))
    }

    /// Whole seconds as swift-certificates takes them from a `Date` (`Time.makeTime(from:)`
    /// rounds to the nearest second).
    static func wholeSeconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded())
    }
}

/// Writes DER into one buffer: a constructed element's length is inserted in front of its
/// content once the content is written (a short move, as SVIDs are well under a kilobyte).
struct DERWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func append(raw: [UInt8]) { bytes += raw }

    /// A primitive element.
    mutating func append<Content: Collection<UInt8>>(_ tag: UInt8, _ content: Content) {
        bytes.append(tag)
        appendLength(content.count)
        bytes += content
    }

    /// A constructed element whose content `body` writes.
    mutating func nested(_ tag: UInt8, _ body: (inout DERWriter) -> Void) {
        bytes.append(tag)
        let contentStart = bytes.count
        body(&self)
        let length = bytes.count - contentStart
        if length < 0x80 {
            bytes.insert(UInt8(length), at: contentStart)
        } else {
            bytes.insert(contentsOf: Self.longLength(length), at: contentStart)
        }
    }

    private mutating func appendLength(_ length: Int) {
        if length < 0x80 { bytes.append(UInt8(length)) } else { bytes += Self.longLength(length) }
    }

    /// X.690 §8.1.3.5: 0x80 | count, then the length's big-endian octets, no leading zero.
    private static func longLength(_ length: Int) -> [UInt8] {
        var octets: [UInt8] = []
        var rest = length
        while rest > 0 {
            octets.insert(UInt8(truncatingIfNeeded: rest), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(octets.count)] + octets
    }
}
