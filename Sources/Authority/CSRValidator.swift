import Crypto
import _CryptoExtras
import SwiftASN1
import X509

/// Checks a certificate signing request before the CA uses its public key.
///
/// Only the key is taken from a CSR: its subject and any SPIFFE ID it names are ignored,
/// because the identity always comes from the registration entry (SPIRE's SPI-01-004). The CSR's
/// self-signature proves the requester holds the private key.
public enum CSRValidator {
    /// The CSR's key, with its SubjectPublicKeyInfo encoding and SKI, after the same checks as
    /// `publicKey(fromDER:)`. The common request — a P-256 key signed with ECDSA-SHA256, as
    /// Lineage's and SPIRE's agents send — is read by `P256CSR` without building the generic
    /// model, and its SPKI bytes are used as they came (they are the one canonical encoding);
    /// anything else goes through swift-certificates' parser.
    public static func subjectPublicKey(fromDER der: [UInt8]) throws(AuthorityError) -> SubjectPublicKey {
        guard der.count <= Limits.csrBytesMax else {
            throw AuthorityError(.malformedCSR, "CSR is larger than \(Limits.csrBytesMax) bytes")
        }
        if let key = P256CSR.verifiedKey(der) { return key }
        return try SubjectPublicKey(try publicKey(fromDER: der))
    }

    public static func publicKey(fromDER der: [UInt8]) throws(AuthorityError) -> Certificate.PublicKey {
        guard der.count <= Limits.csrBytesMax else {
            throw AuthorityError(.malformedCSR, "CSR is larger than \(Limits.csrBytesMax) bytes")
        }
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: der)
        } catch {
            throw AuthorityError(.malformedCSR, "CSR is not valid DER: \(error)")
        }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            throw AuthorityError(.csrSignatureInvalid, "the CSR's signature does not verify with its own key")
        }
        try checkAllowed(csr.publicKey)
        return csr.publicKey
    }

    /// SPIFFE SVID keys: ECDSA P-256/P-384/P-521 and RSA of 2048 to 8192 bits. Ed25519 is
    /// refused because Envoy and many TLS stacks do not accept it in certificates.
    public static func checkAllowed(_ key: Certificate.PublicKey) throws(AuthorityError) {
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil
            || P521.Signing.PublicKey(key) != nil
        {
            return
        }
        if let rsa = _RSA.Signing.PublicKey(key) {
            guard (Limits.rsaKeyBitsMin...Limits.rsaKeyBitsMax).contains(rsa.keySizeInBits) else {
                throw AuthorityError(.keyNotAllowed, "RSA keys must have 2048 to 8192 bits, got \(rsa.keySizeInBits)")
            }
            return
        }
        throw AuthorityError(.keyNotAllowed, "only ECDSA (P-256, P-384, P-521) and RSA keys are accepted")
    }
}
