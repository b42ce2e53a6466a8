import Crypto
import SwiftASN1
import X509

/// A public key to certify, with its SubjectPublicKeyInfo encoded once.
///
/// Encoding an EC key (`x963Representation`) converts its point to affine coordinates — a field
/// inversion in BoringSSL — and copies it through bignums. An X509-SVID needs the encoding for
/// its SKI and the log needs it for `publicKeySHA256`; making it once per SVID instead of once
/// per use took two of three such encodings off the signing path (the certificate's own TBS
/// encoding, inside swift-certificates, makes the third).
public struct SubjectPublicKey: Sendable {
    public let publicKey: Certificate.PublicKey
    /// The SubjectPublicKeyInfo DER, byte for byte what a certificate over this key carries.
    public let subjectPublicKeyInfoDER: [UInt8]
    /// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's bytes, as
    /// `SubjectKeyIdentifier(hash:)` computes it.
    public let subjectKeyIdentifier: SubjectKeyIdentifier

    public init(_ publicKey: Certificate.PublicKey) throws(AuthorityError) {
        do {
            var serializer = DER.Serializer()
            try serializer.serialize(publicKey)
            let der = serializer.serializedBytes
            let keyBits = try DER.sequence(try DER.parse(der), identifier: .sequence) { nodes in
                _ = nodes.next()  // the AlgorithmIdentifier
                return try ASN1BitString(derEncoded: &nodes)
            }
            precondition(keyBits.paddingBits == 0, "a SubjectPublicKeyInfo key is whole bytes")
            precondition(!keyBits.bytes.isEmpty, "a SubjectPublicKeyInfo holds a key")
            self.publicKey = publicKey
            self.subjectPublicKeyInfoDER = der
            self.subjectKeyIdentifier = SubjectKeyIdentifier(keyIdentifier: ArraySlice(Insecure.SHA1.hash(data: keyBits.bytes)))
        } catch {
            throw AuthorityError(.signingFailed, "cannot encode the public key: \(error)")
        }
    }

    /// A P-256 key whose SPKI the caller holds in its one canonical form (`P256CSR` checked the
    /// prefix and the uncompressed point): no re-encoding.
    init(p256 key: P256.Signing.PublicKey, canonicalSubjectPublicKeyInfo der: ArraySlice<UInt8>) {
        precondition(der.count == P256CSR.spkiPrefix.count + 64 && der.starts(with: P256CSR.spkiPrefix), "not a canonical P-256 SPKI")
        self.publicKey = Certificate.PublicKey(key)
        self.subjectPublicKeyInfoDER = Array(der)
        // The BIT STRING's bytes are the uncompressed point: 0x04 then X and Y.
        let point = der[(der.startIndex + P256CSR.spkiPrefix.count - 1)...]
        self.subjectKeyIdentifier = SubjectKeyIdentifier(keyIdentifier: ArraySlice(Insecure.SHA1.hash(data: point)))
    }
}
