import SwiftASN1
import X509

/// PEM and concatenated-DER encoding of certificate lists, with the module's size bounds.
public enum CertificateCoding {
    /// Parses every PEM block of `pem`; each must be a `CERTIFICATE`.
    public static func certificates(pem: String) throws(SPIFFEError) -> [Certificate] {
        if pem.utf8.count > Limits.encodedCertificatesBytesMax {
            throw SPIFFEError(.inputTooLarge, "PEM input is larger than \(Limits.encodedCertificatesBytesMax) bytes")
        }
        let documents: [PEMDocument]
        do {
            documents = try PEMDocument.parseMultiple(pemString: pem)
        } catch {
            throw SPIFFEError(.malformedCertificate, "cannot parse PEM: \(error)")
        }
        if documents.count > Limits.certificatesPerBundleMax {
            throw SPIFFEError(.inputTooLarge, "more than \(Limits.certificatesPerBundleMax) certificates")
        }
        var certificates: [Certificate] = []
        for (index, document) in documents.enumerated() {
            guard document.discriminator == "CERTIFICATE" else {
                throw SPIFFEError(
                    .malformedCertificate,
                    "PEM block \(index) is \(document.discriminator), expected CERTIFICATE")
            }
            certificates.append(try certificate(der: document.derBytes, position: index))
        }
        return certificates
    }

    /// Parses DER certificates simply concatenated one after another.
    public static func certificates(der: [UInt8]) throws(SPIFFEError) -> [Certificate] {
        if der.count > Limits.encodedCertificatesBytesMax {
            throw SPIFFEError(.inputTooLarge, "DER input is larger than \(Limits.encodedCertificatesBytesMax) bytes")
        }
        var certificates: [Certificate] = []
        var offset = 0
        while offset < der.count {
            if certificates.count == Limits.certificatesPerBundleMax {
                throw SPIFFEError(.inputTooLarge, "more than \(Limits.certificatesPerBundleMax) certificates")
            }
            let length = try derElementLength(der, at: offset, position: certificates.count)
            let element = Array(der[offset..<(offset + length)])
            certificates.append(try certificate(der: element, position: certificates.count))
            offset += length
        }
        return certificates
    }

    public static func der(_ certificates: [Certificate]) throws(SPIFFEError) -> [UInt8] {
        var bytes: [UInt8] = []
        for certificate in certificates { bytes += try der(certificate) }
        return bytes
    }

    public static func der(_ certificate: Certificate) throws(SPIFFEError) -> [UInt8] {
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        } catch {
            throw SPIFFEError(.malformedCertificate, "cannot encode certificate: \(error)")
        }
    }

    public static func pem(_ certificates: [Certificate]) throws(SPIFFEError) -> String {
        var text = ""
        for certificate in certificates {
            text += PEMDocument(type: "CERTIFICATE", derBytes: try der(certificate)).pemString + "\n"
        }
        return text
    }

    static func certificate(der: [UInt8], position: Int) throws(SPIFFEError) -> Certificate {
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw SPIFFEError(.malformedCertificate, "certificate \(position) is not valid DER X.509: \(error)")
        }
    }

    /// The total length (header + content) of the DER element starting at `offset`. Only the
    /// definite-length SEQUENCE form a certificate uses is accepted.
    static func derElementLength(_ bytes: [UInt8], at offset: Int, position: Int) throws(SPIFFEError) -> Int {
        let truncated = SPIFFEError(.malformedCertificate, "certificate \(position) is truncated")
        guard offset + 2 <= bytes.count else { throw truncated }
        guard bytes[offset] == 0x30 else {
            throw SPIFFEError(.malformedCertificate, "certificate \(position) does not start with a DER SEQUENCE")
        }
        let first = Int(bytes[offset + 1])
        var contentLength = 0
        var headerLength = 2
        if first < 0x80 {
            contentLength = first
        } else {
            let lengthBytes = first & 0x7f
            guard (1...4).contains(lengthBytes) else {
                throw SPIFFEError(.malformedCertificate, "certificate \(position) has an unsupported DER length")
            }
            guard offset + 2 + lengthBytes <= bytes.count else { throw truncated }
            for index in 0..<lengthBytes {
                contentLength = contentLength << 8 | Int(bytes[offset + 2 + index])
            }
            headerLength += lengthBytes
        }
        guard contentLength <= bytes.count - offset - headerLength else { throw truncated }
        return headerLength + contentLength
    }
}
