import Crypto

/// A minimal reader for the one CSR shape agents send: PKCS#10 (RFC 2986) version 1 with a
/// P-256 key, signed with ecdsa-with-SHA256, a subject of single-attribute RDNs with printable
/// or UTF-8 strings, and no attributes.
///
/// Parsing that through swift-certificates' generic CSR model cost about as much as the key's
/// signature check. This reads only what the check needs — the CertificationRequestInfo bytes,
/// the key, the signature — in strict DER, and verifies the signature. It accepts a subset of
/// what the full parser accepts: anything else, and any failure (a bad signature included),
/// returns nil and the caller runs the full parser, which then gives today's errors.
enum P256CSR {
    /// SubjectPublicKeyInfo of a P-256 key up to the point's 0x04: SEQUENCE { SEQUENCE {
    /// id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes, no unused bits) 0x04 …}.
    static let spkiPrefix: [UInt8] = [
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01,
        0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ]
    /// AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2).
    static let ecdsaWithSHA256: [UInt8] = [0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]
    /// id-at-countryName, -commonName, -organizationName, -organizationalUnitName, -serialNumber.
    static let knownAttributeTypes: [[UInt8]] = [
        [0x55, 0x04, 0x06], [0x55, 0x04, 0x03], [0x55, 0x04, 0x0A], [0x55, 0x04, 0x0B], [0x55, 0x04, 0x05],
    ]

    static func verifiedKey(_ der: [UInt8]) -> SubjectPublicKey? {
        var outer = Reader(der[...])
        guard let request = outer.read(0x30), outer.atEnd else { return nil }
        var fields = Reader(request)
        guard let infoContent = fields.read(0x30) else { return nil }
        // The signed bytes are the whole CertificationRequestInfo TLV.
        let info = der[request.startIndex..<infoContent.endIndex]
        guard let algorithm = fields.readTLV(0x30), algorithm.elementsEqual(ecdsaWithSHA256),
              let bits = fields.read(0x03), fields.atEnd,
              bits.first == 0x00  // no unused bits
        else { return nil }

        var infoFields = Reader(infoContent)
        guard let version = infoFields.read(0x02), version.elementsEqual([0x00]),
              let subject = infoFields.read(0x30), isPlainName(subject),
              let spki = infoFields.readTLV(0x30),
              spki.count == spkiPrefix.count + 64, spki.starts(with: spkiPrefix),
              let attributes = infoFields.read(0xA0), attributes.isEmpty,
              infoFields.atEnd
        else { return nil }

        let point = spki[(spki.startIndex + spkiPrefix.count - 1)...]
        guard let key = try? P256.Signing.PublicKey(x963Representation: point),
              let raw = rawSignature(bits.dropFirst()),
              let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw),
              key.isValidSignature(signature, for: info)
        else { return nil }
        return SubjectPublicKey(p256: key, canonicalSubjectPublicKeyInfo: spki)
    }

    /// r ‖ s, 32 bytes each, of a DER ECDSA-Sig-Value (SEQUENCE { INTEGER r, INTEGER s }):
    /// read here because swift-crypto's own DER path copies through `Data` and a generic ASN.1
    /// parser. Integers must be minimal and positive, as DER requires; r and s are range-checked
    /// by the verification itself.
    static func rawSignature(_ der: ArraySlice<UInt8>) -> [UInt8]? {
        var outer = Reader(der)
        guard let sequence = outer.read(0x30), outer.atEnd else { return nil }
        var integers = Reader(sequence)
        var raw: [UInt8] = []
        raw.reserveCapacity(64)
        for _ in 0..<2 {
            guard var value = integers.read(0x02), let first = value.first, first & 0x80 == 0 else { return nil }
            if first == 0 {
                guard value.count > 1, value[value.startIndex + 1] & 0x80 != 0 else { return nil }  // not minimal
                value = value.dropFirst()
            }
            guard value.count <= 32 else { return nil }
            raw += repeatElement(0, count: 32 - value.count)
            raw += value
        }
        guard integers.atEnd else { return nil }
        return raw
    }

    /// A Name of RDNs with one attribute each, of a known type, whose value is a
    /// PrintableString or UTF8String of valid content.
    static func isPlainName(_ content: ArraySlice<UInt8>) -> Bool {
        var rdns = Reader(content)
        while !rdns.atEnd {
            guard let set = rdns.read(0x31) else { return false }
            var inSet = Reader(set)
            guard let attribute = inSet.read(0x30), inSet.atEnd else { return false }
            var pair = Reader(attribute)
            guard let type = pair.read(0x06), knownAttributeTypes.contains(where: { type.elementsEqual($0) }) else { return false }
            if let printable = pair.read(0x13) {
                guard printable.allSatisfy(isPrintableStringCharacter) else { return false }
            } else if let utf8 = pair.read(0x0C) {
                guard String(validating: utf8, as: UTF8.self) != nil else { return false }
            } else {
                return false
            }
            guard pair.atEnd else { return false }
        }
        return true
    }

    /// X.680 §41.4: letters, digits, space and `'()+,-./:=?`.
    static func isPrintableStringCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: " "), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "+"), UInt8(ascii: ","),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: "?"):
            true
        default:
            false
        }
    }

    /// Strict DER TLVs with single-byte tags and minimal definite lengths up to 65535.
    struct Reader {
        var rest: ArraySlice<UInt8>

        init(_ bytes: ArraySlice<UInt8>) { rest = bytes }

        var atEnd: Bool { rest.isEmpty }

        /// The content of the next element if its tag is `tag`; nothing is consumed otherwise.
        mutating func read(_ tag: UInt8) -> ArraySlice<UInt8>? {
            guard let (header, length) = peek(tag) else { return nil }
            let start = rest.startIndex + header
            let content = rest[start..<(start + length)]
            rest = rest[(start + length)...]
            return content
        }

        /// The whole next element (tag, length, content) if its tag is `tag`.
        mutating func readTLV(_ tag: UInt8) -> ArraySlice<UInt8>? {
            guard let (header, length) = peek(tag) else { return nil }
            let element = rest.prefix(header + length)
            rest = rest.dropFirst(header + length)
            return element
        }

        private func peek(_ tag: UInt8) -> (header: Int, length: Int)? {
            let bytes = rest
            guard bytes.count >= 2, bytes[bytes.startIndex] == tag else { return nil }
            let first = bytes[bytes.startIndex + 1]
            let header: Int
            let length: Int
            switch first {
            case 0..<0x80:
                (header, length) = (2, Int(first))
            case 0x81:
                guard bytes.count >= 3 else { return nil }
                (header, length) = (3, Int(bytes[bytes.startIndex + 2]))
                guard length >= 0x80 else { return nil }  // not minimal
            case 0x82:
                guard bytes.count >= 4 else { return nil }
                (header, length) = (4, Int(bytes[bytes.startIndex + 2]) << 8 | Int(bytes[bytes.startIndex + 3]))
                guard length >= 0x100 else { return nil }  // not minimal
            default:
                return nil  // indefinite, or longer than any CSR accepted
            }
            guard bytes.count - header >= length else { return nil }
            return (header, length)
        }
    }
}
