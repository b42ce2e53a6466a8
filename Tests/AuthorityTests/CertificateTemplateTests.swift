import Authority
import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import Testing
import X509
import _CryptoExtras

@Suite("CA and SVID templates, checked with openssl")
struct CertificateTemplateTests {
    let workload = try! SPIFFEID(parsing: "spiffe://example.org/ns/default/sa/web")

    func issue(
        authority: SigningAuthority, dnsNames: [String] = [], ttl: TimeInterval = 3600, at now: Date = Fixtures.now
    ) throws -> Certificate {
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let publicKey = try CSRValidator.publicKey(fromDER: try Fixtures.csr(key: key))
        var generator = SeededGenerator(seed: 7)
        return try CertificateTemplates.x509SVID(
            id: workload, publicKey: publicKey, dnsNames: dnsNames,
            serialNumber: SerialNumbers.random(using: &generator), now: now, ttl: ttl, authority: authority)
    }

    @Test("the CA is what SPIRE issues: CA:TRUE, certSign|cRLSign, URI SAN spiffe://td, C=US O=SPIFFE serialNumber")
    func caTemplate() throws {
        let authority = try Fixtures.selfSignedAuthority()
        let text = try OpenSSL.withFiles(["ca": [authority.certificate]]) { paths in
            try OpenSSL.run(["x509", "-in", paths["ca"]!, "-noout", "-text", "-nameopt", "RFC2253"])
        }
        #expect(text.contains("CA:TRUE"))
        #expect(text.contains("X509v3 Key Usage: critical"))
        #expect(text.contains("Certificate Sign, CRL Sign"))
        #expect(text.contains("URI:spiffe://example.org\n"))
        #expect(text.range(of: #"Subject: serialNumber=\d+,O=SPIFFE,C=US"#, options: .regularExpression) != nil, "\(text)")
        #expect(authority.certificate.notValidBefore == Fixtures.now - 10)
        #expect(authority.certificate.notValidAfter == Fixtures.now + 86_400)
    }

    @Test("an SVID verifies against the bundle with openssl and carries exactly one URI SAN")
    func svidVerifies() throws {
        let authority = try Fixtures.selfSignedAuthority()
        let svid = try issue(authority: authority, dnsNames: ["web.example.org", "web"])
        try OpenSSL.withFiles(["ca": [authority.certificate], "svid": [svid]]) { paths in
            let verified = try OpenSSL.run(["verify", "-CAfile", paths["ca"]!, "-attime", "1800000100", paths["svid"]!])
            #expect(verified.contains(": OK"))
            let text = try OpenSSL.run(["x509", "-in", paths["svid"]!, "-noout", "-text", "-nameopt", "RFC2253"])
            #expect(text.contains("Subject: CN=web.example.org,O=SPIRE,C=US"), "\(text)")
            #expect(text.contains("URI:spiffe://example.org/ns/default/sa/web, DNS:web.example.org, DNS:web"))
            #expect(text.components(separatedBy: "URI:").count == 2)
            #expect(text.contains("CA:FALSE"))
            #expect(text.contains("Digital Signature, Key Encipherment, Key Agreement"))
            #expect(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
            #expect(text.contains("X509v3 Authority Key Identifier"))
        }
        #expect(svid.notValidBefore == Fixtures.now - 10)
        #expect(svid.notValidAfter == Fixtures.now + 3600)
    }

    @Test("no DNS names: subject is exactly C=US, O=SPIRE")
    func subjectWithoutDNS() throws {
        let svid = try issue(authority: try Fixtures.selfSignedAuthority())
        #expect(svid.subject.description == "O=SPIRE,C=US")
    }

    @Test("NotAfter is capped at the authority's; expired or future authorities cannot sign")
    func ttlCapping() throws {
        let authority = try Fixtures.selfSignedAuthority(ttl: 7200)
        let late = Fixtures.now + 5400
        let capped = try issue(authority: authority, ttl: 3600, at: late)
        #expect(capped.notValidAfter == authority.certificate.notValidAfter)
        #expect(throws: AuthorityError(.authorityExpired, "")) { try issue(authority: authority, at: Fixtures.now + 7201) }
        #expect(throws: AuthorityError(.authorityNotYetValid, "")) { try issue(authority: authority, at: Fixtures.now - 3600) }
        #expect(throws: AuthorityError(.ttlNotPositive, "")) { try issue(authority: authority, ttl: 0) }
    }

    @Test("an intermediate signed by an upstream authority chains with openssl and is capped by it")
    func upstreamIntermediate() throws {
        let upstreamKey = Certificate.PrivateKey(P384.Signing.PrivateKey())
        let upstream = try Fixtures.selfSignedAuthority(key: upstreamKey, ttl: 4 * 3600, seed: 3)
        let serverKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        var generator = SeededGenerator(seed: 9)
        let intermediate = try CertificateTemplates.intermediateCA(
            trustDomain: try .init("example.org"), subject: .init(), publicKey: serverKey.publicKey,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 24 * 3600, upstream: upstream)
        #expect(intermediate.notValidAfter == upstream.certificate.notValidAfter)
        let server = SigningAuthority(certificate: intermediate, upstreamChain: [], privateKey: serverKey)
        let svid = try issue(authority: server)
        try OpenSSL.withFiles(["root": [upstream.certificate], "mid": [intermediate], "svid": [svid]]) { paths in
            let verified = try OpenSSL.run([
                "verify", "-CAfile", paths["root"]!, "-untrusted", paths["mid"]!, "-attime", "1800000100", paths["svid"]!,
            ])
            #expect(verified.contains(": OK"))
        }
    }

    @Test("RSA and P-384 authorities sign SVIDs that openssl accepts")
    func otherKeyTypes() throws {
        for key in [Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048)),
                    Certificate.PrivateKey(P384.Signing.PrivateKey())] {
            let authority = try Fixtures.selfSignedAuthority(key: key)
            let svid = try issue(authority: authority)
            try OpenSSL.withFiles(["ca": [authority.certificate], "svid": [svid]]) { paths in
                let verified = try OpenSSL.run(["verify", "-CAfile", paths["ca"]!, "-attime", "1800000100", paths["svid"]!])
                #expect(verified.contains(": OK"))
            }
        }
    }

    @Test("bad DNS names are refused", arguments: ["", "a..b", "-a.b", "a_b.c", "exa mple.org", String(repeating: "a", count: 64)])
    func badDNSNames(name: String) throws {
        let authority = try Fixtures.selfSignedAuthority()
        #expect(throws: AuthorityError(.invalidDNSName, "")) { try issue(authority: authority, dnsNames: [name]) }
    }

    @Test("wildcards and ordinary names are accepted", arguments: ["*.example.org", "a-b.c", "localhost"])
    func goodDNSNames(name: String) throws {
        _ = try issue(authority: try Fixtures.selfSignedAuthority(), dnsNames: [name])
    }
}

@Suite("CSR checks")
struct CSRValidatorTests {
    @Test("the SPIFFE ID comes from the entry, never from the CSR (SPI-01-004)")
    func idFromEntryNotCSR() throws {
        let authority = try Fixtures.selfSignedAuthority()
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let csr = try Fixtures.csr(key: key, sanURI: "spiffe://example.org/spire/server")
        let publicKey = try CSRValidator.publicKey(fromDER: csr)
        var generator = SeededGenerator(seed: 1)
        let svid = try CertificateTemplates.x509SVID(
            id: try SPIFFEID(parsing: "spiffe://example.org/workload"), publicKey: publicKey,
            serialNumber: SerialNumbers.random(using: &generator), now: Fixtures.now, ttl: 60, authority: authority)
        let names = try svid.extensions.subjectAlternativeNames.map(Array.init) ?? []
        #expect(names == [.uniformResourceIdentifier("spiffe://example.org/workload")])
        #expect(svid.publicKey == key.publicKey)
    }

    @Test("a CSR whose signature does not verify is refused")
    func tamperedSignature() throws {
        var csr = try Fixtures.csr(key: .init(P256.Signing.PrivateKey()))
        csr[csr.count - 3] ^= 0x01
        #expect(throws: AuthorityError.self) { try CSRValidator.publicKey(fromDER: csr) }
        do {
            _ = try CSRValidator.publicKey(fromDER: csr)
        } catch {
            #expect([.csrSignatureInvalid, .malformedCSR].contains(error.code))
        }
    }

    @Test("a CSR signed by one key but carrying another is refused")
    func swappedKey() throws {
        let signer = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let other = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let good = try CertificateSigningRequest(derEncoded: try Fixtures.csr(key: signer))
        let forged = try CertificateSigningRequest(
            version: .v1, subject: good.subject, publicKey: other.publicKey, attributes: good.attributes,
            signatureAlgorithm: good.signatureAlgorithm, signature: good.signature)
        var serializer = DER.Serializer()
        try serializer.serialize(forged)
        #expect(throws: AuthorityError(.csrSignatureInvalid, "")) {
            try CSRValidator.publicKey(fromDER: serializer.serializedBytes)
        }
    }

    @Test("key policy: Ed25519 and small RSA keys are refused; garbage and oversize are malformed")
    func keyPolicy() throws {
        #expect(throws: AuthorityError(.keyNotAllowed, "")) {
            try CSRValidator.publicKey(fromDER: try Fixtures.csr(key: .init(Curve25519.Signing.PrivateKey())))
        }
        // swift-certificates itself refuses to parse RSA keys under 2048 bits.
        let smallRSA = try Fixtures.csr(key: .init(try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))))
        #expect(throws: AuthorityError.self) { try CSRValidator.publicKey(fromDER: smallRSA) }
        #expect(throws: AuthorityError(.malformedCSR, "")) { try CSRValidator.publicKey(fromDER: [0x30, 0x03, 0x01]) }
        #expect(throws: AuthorityError(.malformedCSR, "")) {
            try CSRValidator.publicKey(fromDER: [UInt8](repeating: 0x30, count: Limits.csrBytesMax + 1))
        }
        _ = try CSRValidator.publicKey(fromDER: try Fixtures.csr(key: .init(P384.Signing.PrivateKey())))
    }
}

@Suite("Serial numbers and rotation schedule")
struct SerialAndRotationTests {
    @Test("serials are positive, at most 128 bits, reproducible from a seed, and unique")
    func serials() {
        var generator = SeededGenerator(seed: 42)
        var seen = Set<[UInt8]>()
        for _ in 0..<2000 {
            let bytes = Array(SerialNumbers.random(using: &generator).bytes)
            #expect(!bytes.isEmpty && bytes.count <= 16 && bytes != [0])
            seen.insert(bytes)
        }
        #expect(seen.count == 2000)
        var first = SeededGenerator(seed: 5)
        var second = SeededGenerator(seed: 5)
        #expect(SerialNumbers.random(using: &first) == SerialNumbers.random(using: &second))
    }

    @Test("CA subject serial is the decimal value of the serial, which openssl reads as positive",
          arguments: [UInt64(1), 2, 3, 4, 5, 6])
    func decimal(seed: UInt64) throws {
        let authority = try Fixtures.selfSignedAuthority(seed: seed)
        let text = try OpenSSL.withFiles(["ca": [authority.certificate]]) { paths in
            try OpenSSL.run(["x509", "-in", paths["ca"]!, "-noout", "-serial", "-subject", "-nameopt", "RFC2253"])
        }
        // openssl prints the serial in hex and the subject's serialNumber in decimal.
        let hex = text.split(separator: "\n").first { $0.hasPrefix("serial=") }!.dropFirst("serial=".count)
        #expect(!hex.hasPrefix("-"))
        #expect(hex.count <= 32 || (hex.count == 34 && hex.hasPrefix("00")))
        let decimal = text.firstMatch(of: /serialNumber=(\d+)/)!.1
        #expect(hexToDecimal(String(hex)) == String(decimal))
    }

    func hexToDecimal(_ hex: String) -> String {
        var digits: [Int] = [0]
        for character in hex {
            var carry = Int(String(character), radix: 16)!
            for index in digits.indices {
                let value = digits[index] * 16 + carry
                digits[index] = value % 10
                carry = value / 10
            }
            while carry > 0 { digits.append(carry % 10); carry /= 10 }
        }
        while digits.count > 1 && digits.last == 0 { digits.removeLast() }
        return digits.reversed().map(String.init).joined()
    }

    @Test("prepare at half the lifetime, activate at five-sixths, bootstrap when nothing is valid")
    func schedule() {
        let start = Date(timeIntervalSince1970: 0)
        let current = RotationPolicy.Window(notBefore: start, notAfter: start + 6000)
        let next = RotationPolicy.Window(notBefore: start + 3000, notAfter: start + 9000)
        #expect(RotationPolicy.action(now: start + 2999, current: current, next: nil) == .none)
        #expect(RotationPolicy.action(now: start + 3000, current: current, next: nil) == .prepareNext)
        #expect(RotationPolicy.action(now: start + 4999, current: current, next: next) == .none)
        #expect(RotationPolicy.action(now: start + 5000, current: current, next: next) == .activateNext)
        #expect(RotationPolicy.action(now: start + 6000, current: current, next: next) == .activateNext)
        #expect(RotationPolicy.action(now: start + 6000, current: current, next: nil) == .bootstrap)
        #expect(RotationPolicy.action(now: start, current: nil, next: nil) == .bootstrap)
        #expect(RotationPolicy.action(now: start + 9500, current: current, next: next) == .bootstrap)
        let pruned = RotationPolicy.prunable(now: start + 6000, authorities: [(id: "a", window: current), (id: "b", window: next)])
        #expect(pruned == ["a"])
    }
}
