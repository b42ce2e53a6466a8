import Crypto
import Foundation
import _CryptoExtras
import SPIFFE
import SwiftASN1
import X509

/// The certificates a SPIFFE CA issues, built to SPIRE's templates (SPIFFE-WIRE.md §2.2):
///
/// - CA: subject `C=US, O=SPIFFE, serialNumber=<serial>` (country and organization
///   configurable, as SPIRE's `ca_subject`), CA=true, keyCertSign|cRLSign (critical), URI SAN
///   `spiffe://<td>`, SKI, and AKI when signed by an upstream authority.
/// - X509-SVID: subject `C=US, O=SPIRE` (CN = first DNS name), CA=false,
///   digitalSignature|keyEncipherment|keyAgreement (critical), EKU serverAuth+clientAuth,
///   exactly one URI SAN plus the DNS names, SKI and AKI.
///
/// Time is always a parameter. NotBefore is backdated by `backdate` for clock skew; NotAfter
/// never passes the issuing authority's own NotAfter, so an SVID never outlives its CA.
public enum CertificateTemplates {
    /// SPIRE backdates NotBefore by 10 s so that a verifier whose clock is a little behind
    /// still accepts a fresh certificate.
    public static let backdate: TimeInterval = 10

    /// SPIRE's CA subject settings (`server { ca_subject { … } }`).
    public struct CASubject: Sendable, Hashable {
        public var country: [String]
        public var organization: [String]
        public var commonName: String

        public init(country: [String] = ["US"], organization: [String] = ["SPIFFE"], commonName: String = "") {
            self.country = country
            self.organization = organization
            self.commonName = commonName
        }
    }

    // MARK: - CA certificates

    /// A self-signed root CA for `trustDomain`.
    public static func selfSignedCA(
        trustDomain: TrustDomain, subject: CASubject, privateKey: Certificate.PrivateKey,
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval
    ) throws(AuthorityError) -> Certificate {
        guard ttl > 0 else { throw AuthorityError(.ttlNotPositive, "CA TTL must be positive") }
        let name = try caName(subject, serialNumber: serialNumber)
        let ski = SubjectKeyIdentifier(hash: privateKey.publicKey)
        return try sign {
            try Certificate(
                version: .v3, serialNumber: serialNumber, publicKey: privateKey.publicKey,
                notValidBefore: now - backdate, notValidAfter: now + ttl,
                issuer: name, subject: name,
                signatureAlgorithm: signatureAlgorithm(for: privateKey),
                extensions: try caExtensions(trustDomain: trustDomain, ski: ski, aki: nil),
                issuerPrivateKey: privateKey)
        }
    }

    /// An intermediate CA for this server's `publicKey`, signed by an upstream authority (the
    /// `UpstreamAuthority "disk"` plugin). NotAfter is capped at the upstream's.
    public static func intermediateCA(
        trustDomain: TrustDomain, subject: CASubject, publicKey: Certificate.PublicKey,
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval, upstream: SigningAuthority
    ) throws(AuthorityError) -> Certificate {
        let notAfter = try cappedNotAfter(now: now, ttl: ttl, issuer: upstream.certificate)
        let name = try caName(subject, serialNumber: serialNumber)
        return try sign {
            try Certificate(
                version: .v3, serialNumber: serialNumber, publicKey: publicKey,
                notValidBefore: now - backdate, notValidAfter: notAfter,
                issuer: upstream.certificate.subject, subject: name,
                signatureAlgorithm: signatureAlgorithm(for: upstream.privateKey),
                extensions: try caExtensions(
                    trustDomain: trustDomain, ski: SubjectKeyIdentifier(hash: publicKey),
                    aki: upstream.subjectKeyID),
                issuerPrivateKey: upstream.privateKey)
        }
    }

    // MARK: - X509-SVIDs

    /// An X509-SVID for `id` over `publicKey` (taken from a verified CSR). The SPIFFE ID comes
    /// from the caller — the registration entry — never from the CSR (SPIRE's SPI-01-004).
    public static func x509SVID(
        id: SPIFFEID, publicKey: Certificate.PublicKey, dnsNames: [String] = [],
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval, authority: SigningAuthority
    ) throws(AuthorityError) -> Certificate {
        try x509SVID(
            id: id, key: try SubjectPublicKey(publicKey), dnsNames: dnsNames, serialNumber: serialNumber,
            now: now, ttl: ttl, authority: authority)
    }

    /// The same, over a key whose encoding the caller already holds (the issuer hashes it into
    /// the log event too).
    public static func x509SVID(
        id: SPIFFEID, key: SubjectPublicKey, dnsNames: [String] = [],
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval, authority: SigningAuthority
    ) throws(AuthorityError) -> Certificate {
        let signed = try signedX509SVID(
            id: id, key: key, dnsNames: dnsNames, serialNumber: serialNumber, now: now, ttl: ttl, authority: authority)
        return try signed.certificate()
    }

    /// An X509-SVID as DER, with the values the issuer records, without parsing it back into a
    /// `Certificate`: what the signing path needs. The bytes are the DER of the certificate
    /// `referenceX509SVID` builds from the same inputs (the signature aside, which is randomized).
    public static func signedX509SVID(
        id: SPIFFEID, key: SubjectPublicKey, dnsNames: [String] = [],
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval, authority: SigningAuthority
    ) throws(AuthorityError) -> SignedX509SVID {
        precondition(!id.isTrustDomainID, "an X509-SVID leaf must have a path (X509-SVID.md §4.1)")
        guard let encoding = authority.svidEncoding else {
            // An algorithm the direct encoder does not know: the generic builder signs.
            let certificate = try referenceX509SVID(
                id: id, key: key, dnsNames: dnsNames, serialNumber: serialNumber, now: now, ttl: ttl, authority: authority)
            do {
                var serializer = DER.Serializer()
                try serializer.serialize(certificate)
                return SignedX509SVID(
                    der: serializer.serializedBytes, serialNumber: certificate.serialNumber,
                    notValidBefore: certificate.notValidBefore, notValidAfter: certificate.notValidAfter)
            } catch {
                throw AuthorityError(.signingFailed, "cannot encode the SVID: \(error)")
            }
        }
        try validate(dnsNames: dnsNames)
        let notBefore = SVIDEncoding.wholeSeconds(now - backdate)
        let notAfter = SVIDEncoding.wholeSeconds(try cappedNotAfter(now: now, ttl: ttl, issuer: authority.certificate))
        let tbs = encoding.tbsCertificate(
            serialNumber: serialNumber.bytes, notBefore: notBefore, notAfter: notAfter, commonName: dnsNames.first,
            subjectPublicKeyInfoDER: key.subjectPublicKeyInfoDER, subjectKeyIdentifier: key.subjectKeyIdentifier.keyIdentifier,
            uri: id.string, dnsNames: dnsNames)
        let signature: Certificate.Signature
        do {
            signature = try authority.privateKey.sign(bytes: tbs, signatureAlgorithm: authority.signatureAlgorithm)
        } catch {
            throw AuthorityError(.signingFailed, "signing failed: \(error)")
        }
        return SignedX509SVID(
            der: encoding.certificate(tbs: tbs, signature: signature.rawRepresentation), serialNumber: serialNumber,
            notValidBefore: Date(timeIntervalSince1970: TimeInterval(notBefore)),
            notValidAfter: Date(timeIntervalSince1970: TimeInterval(notAfter)))
    }

    /// The X509-SVID built through swift-certificates' generic builder: the reference the direct
    /// encoder (`signedX509SVID`) must match byte for byte, and the signer for authorities whose
    /// algorithm that encoder does not know.
    public static func referenceX509SVID(
        id: SPIFFEID, key: SubjectPublicKey, dnsNames: [String] = [],
        serialNumber: Certificate.SerialNumber, now: Date, ttl: TimeInterval, authority: SigningAuthority
    ) throws(AuthorityError) -> Certificate {
        precondition(!id.isTrustDomainID, "an X509-SVID leaf must have a path (X509-SVID.md §4.1)")
        try validate(dnsNames: dnsNames)
        let notAfter = try cappedNotAfter(now: now, ttl: ttl, issuer: authority.certificate)
        let subject = try svidName(commonName: dnsNames.first)
        var names: [GeneralName] = [.uniformResourceIdentifier(id.string)]
        names += dnsNames.map { GeneralName.dnsName($0) }
        let extensions: Certificate.Extensions
        do {
            // The same order as SPIRE's template; the first three are the same on every SVID.
            extensions = try Certificate.Extensions(svidFixedExtensions + [
                try key.subjectKeyIdentifier.makeCertificateExtension(),
                try AuthorityKeyIdentifier(keyIdentifier: authority.subjectKeyID[...]).makeCertificateExtension(),
                try SubjectAlternativeNames(names).makeCertificateExtension(),
            ])
        } catch {
            throw AuthorityError(.signingFailed, "cannot build SVID extensions: \(error)")
        }
        return try sign {
            try Certificate(
                version: .v3, serialNumber: serialNumber, publicKey: key.publicKey,
                notValidBefore: now - backdate, notValidAfter: notAfter,
                issuer: authority.certificate.subject, subject: subject,
                signatureAlgorithm: authority.signatureAlgorithm,
                extensions: extensions, issuerPrivateKey: authority.privateKey)
        }
    }

    /// BasicConstraints CA=false, KeyUsage and ExtendedKeyUsage, the same on every X509-SVID:
    /// encoded once per process rather than once per SVID.
    static let svidFixedExtensions: [Certificate.Extension] = {
        do {
            return [
                try Critical(BasicConstraints.notCertificateAuthority).makeCertificateExtension(),
                try Critical(KeyUsage(digitalSignature: true, keyEncipherment: true, keyAgreement: true))
                    .makeCertificateExtension(),
                try ExtendedKeyUsage([.serverAuth, .clientAuth]).makeCertificateExtension(),
            ]
        } catch {
            preconditionFailure("the fixed X509-SVID extensions must encode: \(error)")
        }
    }()

    /// The NotAfter for a certificate issued now with `ttl`: never later than the issuer's own.
    /// An issuer that is already expired, or not valid yet, cannot sign.
    public static func cappedNotAfter(now: Date, ttl: TimeInterval, issuer: Certificate) throws(AuthorityError) -> Date {
        guard ttl > 0 else { throw AuthorityError(.ttlNotPositive, "TTL must be positive, got \(ttl) s") }
        guard now < issuer.notValidAfter else {
            throw AuthorityError(.authorityExpired, "the issuing authority expired at \(issuer.notValidAfter)")
        }
        guard now >= issuer.notValidBefore else {
            throw AuthorityError(.authorityNotYetValid, "the issuing authority is valid from \(issuer.notValidBefore)")
        }
        return min(now + ttl, issuer.notValidAfter)
    }

    // MARK: - Pieces

    static func caName(_ subject: CASubject, serialNumber: Certificate.SerialNumber) throws(AuthorityError) -> DistinguishedName {
        typealias OID = ASN1ObjectIdentifier.RDNAttributeType
        do {
            var attributes: [RelativeDistinguishedName.Attribute] = []
            for country in subject.country { attributes.append(try .init(type: OID.countryName, printableString: country)) }
            for organization in subject.organization {
                attributes.append(.init(type: OID.organizationName, utf8String: organization))
            }
            if !subject.commonName.isEmpty { attributes.append(.init(type: OID.commonName, utf8String: subject.commonName)) }
            // serialNumber (2.5.4.5), as SPIRE puts the CA's serial in its subject.
            attributes.append(try .init(type: [2, 5, 4, 5], printableString: decimalString(serialNumber.bytes)))
            return DistinguishedName(attributes.map { RelativeDistinguishedName($0) })
        } catch {
            throw AuthorityError(.signingFailed, "cannot build CA subject: \(error)")
        }
    }

    /// The signature algorithm matching the signing key: ECDSA with the curve's hash, or RSA
    /// PKCS#1 v1.5 with SHA-256 as SPIRE uses.
    static func signatureAlgorithm(for key: Certificate.PrivateKey) -> Certificate.SignatureAlgorithm {
        let publicKey = key.publicKey
        if P384.Signing.PublicKey(publicKey) != nil { return .ecdsaWithSHA384 }
        if P521.Signing.PublicKey(publicKey) != nil { return .ecdsaWithSHA512 }
        if _RSA.Signing.PublicKey(publicKey) != nil { return .sha256WithRSAEncryption }
        if Curve25519.Signing.PublicKey(publicKey) != nil { return .ed25519 }
        return .ecdsaWithSHA256
    }

    static func svidName(commonName: String?) throws(AuthorityError) -> DistinguishedName {
        do {
            return try DistinguishedName {
                CountryName("US")
                OrganizationName("SPIRE")
                if let commonName { CommonName(commonName) }
            }
        } catch {
            throw AuthorityError(.signingFailed, "cannot build SVID subject: \(error)")
        }
    }

    static func caExtensions(
        trustDomain: TrustDomain, ski: SubjectKeyIdentifier, aki: [UInt8]?
    ) throws(AuthorityError) -> Certificate.Extensions {
        do {
            return try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                ski
                if let aki { AuthorityKeyIdentifier(keyIdentifier: aki[...]) }
                SubjectAlternativeNames([.uniformResourceIdentifier(trustDomain.idString)])
            }
        } catch {
            throw AuthorityError(.signingFailed, "cannot build CA extensions: \(error)")
        }
    }

    /// DNS names go into a certificate verbatim, so each must be a plausible host name
    /// (RFC 1123 labels, optionally a leading `*.` wildcard), bounded in count and length.
    static func validate(dnsNames: [String]) throws(AuthorityError) {
        guard dnsNames.count <= Limits.dnsNamesMax else {
            throw AuthorityError(.invalidDNSName, "more than \(Limits.dnsNamesMax) DNS names")
        }
        for name in dnsNames {
            var labels = name.split(separator: ".", omittingEmptySubsequences: false)
            if labels.first == "*" { labels.removeFirst() }
            let valid = !labels.isEmpty && name.utf8.count <= Limits.dnsNameBytesMax
                && labels.allSatisfy { label in
                    (1...63).contains(label.utf8.count) && label.first != "-" && label.last != "-"
                        && label.utf8.allSatisfy { byte in
                            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                                || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                        }
                }
            guard valid else { throw AuthorityError(.invalidDNSName, "\"\(name)\" is not a valid DNS name") }
        }
    }

    private static func sign(_ build: () throws -> Certificate) throws(AuthorityError) -> Certificate {
        do {
            return try build()
        } catch {
            throw AuthorityError(.signingFailed, "signing failed: \(error)")
        }
    }

    /// Big-endian unsigned bytes as a decimal string (the CA subject's serialNumber attribute).
    static func decimalString(_ bytes: ArraySlice<UInt8>) -> String {
        var digits: [UInt8] = []  // little-endian base-10 digits
        for byte in bytes {
            var carry = Int(byte)
            for index in digits.indices {
                let value = Int(digits[index]) * 256 + carry
                digits[index] = UInt8(value % 10)
                carry = value / 10
            }
            while carry > 0 {
                digits.append(UInt8(carry % 10))
                carry /= 10
            }
        }
        if digits.isEmpty { return "0" }
        return String(digits.reversed().map { Character(String($0)) })
    }
}

/// A signed X509-SVID: its DER and the values the log records about it.
public struct SignedX509SVID: Sendable {
    public let der: [UInt8]
    public let serialNumber: Certificate.SerialNumber
    /// Whole seconds, as the certificate holds them.
    public let notValidBefore: Date
    public let notValidAfter: Date

    /// The certificate, parsed from `der`.
    public func certificate() throws(AuthorityError) -> Certificate {
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw AuthorityError(.signingFailed, "the signed SVID does not parse: \(error)")
        }
    }
}
