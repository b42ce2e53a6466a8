import Authority
import Crypto
import SPIFFE
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite("A key to certify, encoded once")
struct SubjectPublicKeyTests {
    static let keys: [Certificate.PublicKey] = [
        Certificate.PublicKey(P256.Signing.PrivateKey().publicKey),
        Certificate.PublicKey(P384.Signing.PrivateKey().publicKey),
        Certificate.PublicKey(try! _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey),
    ]

    @Test("its SPKI and SKI are what swift-certificates computes from the key", arguments: keys)
    func matchesLibrary(_ publicKey: Certificate.PublicKey) throws {
        let key = try SubjectPublicKey(publicKey)
        var serializer = DER.Serializer()
        try serializer.serialize(publicKey)
        #expect(key.subjectPublicKeyInfoDER == serializer.serializedBytes)
        #expect(key.subjectKeyIdentifier == SubjectKeyIdentifier(hash: publicKey))
    }

    @Test("an SVID carries the SKI and the SPKI the issuer hashes into its event")
    func svidCarriesTheEncoding() throws {
        let authority = try Fixtures.selfSignedAuthority()
        let key = try SubjectPublicKey(try CSRValidator.publicKey(
            fromDER: try Fixtures.csr(key: Certificate.PrivateKey(P256.Signing.PrivateKey()))))
        var generator = SeededGenerator(seed: 3)
        let svid = try CertificateTemplates.x509SVID(
            id: try SPIFFEID(parsing: "spiffe://example.org/workload"), key: key,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 60, authority: authority)
        #expect(try svid.extensions.subjectKeyIdentifier == key.subjectKeyIdentifier)
        #expect(try svid.extensions.authorityKeyIdentifier?.keyIdentifier.map(Array.init) == authority.subjectKeyID)
        var serializer = DER.Serializer()
        try serializer.serialize(svid.publicKey)
        #expect(serializer.serializedBytes == key.subjectPublicKeyInfoDER)
        #expect(svid.signatureAlgorithm == authority.signatureAlgorithm)
        #expect(authority.certificate.publicKey.isValidSignature(svid.signature, for: svid))
    }
}
