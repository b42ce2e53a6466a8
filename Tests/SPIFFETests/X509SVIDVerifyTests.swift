import Foundation
import SPIFFE
import SwiftASN1
import Testing
import X509

@Suite("X509SVID verification: go-spiffe x509svid.Verify (SPIFFE-WIRE §2.2, RELIABILITY §3)")
struct X509SVIDVerifyTests {
    let now = TestPKI.now

    // MARK: - Accepted

    @Test("A chain verifies against its trust domain's bundle and returns the path to the root",
        arguments: [0, 1, 2])
    func verifies(intermediates: Int) async throws {
        let chain = try TestChain.make(intermediates: intermediates)
        let verified = try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        #expect(verified.id.string == "spiffe://example.org/workload")
        #expect(verified.certificates == chain.certificates + [chain.root.certificate])
    }

    @Test("RSA, P-256, P-384 and Ed25519 chains verify", arguments: TestKeyKind.allCases)
    func keyKinds(kind: TestKeyKind) async throws {
        let chain = try TestChain.make(
            intermediates: 1, rootOptions: { $0.keyKind = kind },
            intermediate: { _, options in options.keyKind = kind }, leaf: { $0.keyKind = kind })
        let svid = try chain.svid()
        let verified = try await svid.verify(bundles: chain.bundle(), at: now)
        #expect(verified.id == svid.id)
    }

    @Test("Concatenated DER verifies like parsed certificates; garbage DER is rejected")
    func chainDER() async throws {
        let chain = try TestChain.make(intermediates: 1)
        let der = try CertificateCoding.der(chain.certificates)
        let verified = try await X509SVID.verify(chainDER: der, bundles: chain.bundle(), at: now)
        #expect(verified.certificates.count == 3)
        await expectX509Error(.malformedCertificate) {
            try await X509SVID.verify(chainDER: [0x30, 0x01], bundles: chain.bundle(), at: now)
        }
    }

    @Test("An OpenSSL SVID with an empty subject and critical SAN verifies against the OpenSSL CA")
    func openSSL() async throws {
        let bundle = try X509Bundle(trustDomain: TrustDomain("example.org"), pemEncoded: OpenSSLFixtures.rootCertificate)
        let leaf = try Certificate(pemEncoded: OpenSSLFixtures.leafCertificate)
        let verified = try await X509SVID.verify(chain: [leaf], bundles: bundle, at: now)
        #expect(verified.id.string == "spiffe://example.org/openssl")
    }

    @Test("A leaf with an empty subject and a critical SAN verifies (X509-SVID §2)")
    func criticalSAN() async throws {
        let chain = try TestChain.make(leaf: { $0.emptySubjectCriticalSAN = true })
        #expect(chain.leaf.certificate.subject == DistinguishedName())
        _ = try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
    }

    @Test("Signing certificates without a SPIFFE ID, or with a non-SPIFFE URI, are fine")
    func signingCertificateWithoutSPIFFEID() async throws {
        let chain = try TestChain.make(
            intermediates: 2, rootOptions: { $0.uris = [] },
            intermediate: { index, options in options.uris = index == 0 ? ["https://ca.example.org"] : [] })
        _ = try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
    }

    @Test("Validity bounds are inclusive: the leaf verifies at exactly notBefore and notAfter")
    func validityBoundaries() async throws {
        let chain = try TestChain.make()
        let leaf = chain.leaf.certificate
        for time in [leaf.notValidBefore, leaf.notValidAfter] {
            _ = try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: time)
        }
        await expectX509Error(.certificateExpired) {
            try await X509SVID.verify(
                chain: chain.certificates, bundles: chain.bundle(), at: leaf.notValidAfter + 1)
        }
        await expectX509Error(.certificateNotYetValid) {
            try await X509SVID.verify(
                chain: chain.certificates, bundles: chain.bundle(), at: leaf.notValidBefore - 1)
        }
    }

    // MARK: - Rejected: the leaf and signing-certificate rules

    @Test("Each broken X509-SVID rule is rejected by verification too", arguments: ChainBreakage.allCases)
    func brokenRule(breakage: ChainBreakage) async throws {
        let chain = try breakage.makeChain()
        await expectX509Error(breakage.expectedCode, reasonContains: breakage.expectedReason) {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("A chain longer than the limit is refused before any signature check")
    func tooLong() async throws {
        let chain = try TestChain.make(intermediates: Limits.certificatesPerChainMax)
        await expectX509Error(.inputTooLarge, reasonContains: "more than \(Limits.certificatesPerChainMax)") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("An empty chain is rejected")
    func emptyChain() async throws {
        let chain = try TestChain.make()
        await expectX509Error(.malformedCertificate) {
            try await X509SVID.verify(chain: [], bundles: chain.bundle(), at: now)
        }
    }

    // MARK: - Rejected: time

    @Test("An expired leaf is rejected")
    func expiredLeaf() async throws {
        let chain = try TestChain.make(leaf: {
            $0.notBefore = TestPKI.now - 7200
            $0.notAfter = TestPKI.now - 60
        })
        await expectX509Error(.certificateExpired, reasonContains: "certificate 0 expired") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("A not-yet-valid leaf is rejected")
    func notYetValidLeaf() async throws {
        let chain = try TestChain.make(leaf: {
            $0.notBefore = TestPKI.now + 60
            $0.notAfter = TestPKI.now + 7200
        })
        await expectX509Error(.certificateNotYetValid, reasonContains: "certificate 0 is not valid before") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("An expired intermediate is rejected and named")
    func expiredIntermediate() async throws {
        let chain = try TestChain.make(intermediates: 1, intermediate: { _, options in
            options.notBefore = TestPKI.now - 7200
            options.notAfter = TestPKI.now - 60
        })
        await expectX509Error(.certificateExpired, reasonContains: "certificate 1 expired") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("An expired root in the bundle fails path validation at the given time")
    func expiredRoot() async throws {
        let chain = try TestChain.make(rootOptions: {
            $0.notBefore = TestPKI.now - 7200
            $0.notAfter = TestPKI.now - 60
        })
        await expectX509Error(.chainVerificationFailed, reasonContains: "expired") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    // MARK: - Rejected: trust

    @Test("A chain signed by a CA that is not in the bundle is rejected")
    func unknownAuthority() async throws {
        let chain = try TestChain.make(intermediates: 1)
        let stranger = try TestChain.make()
        await expectX509Error(.chainVerificationFailed, reasonContains: "no chain") {
            try await X509SVID.verify(chain: chain.certificates, bundles: stranger.bundle(), at: now)
        }
    }

    @Test("A leaf signed directly by a CA not in the bundle, presenting that CA, is rejected")
    func presentedRootIsNotTrusted() async throws {
        let chain = try TestChain.make()
        let stranger = try TestChain.make()
        await expectX509Error(.chainVerificationFailed) {
            try await X509SVID.verify(
                chain: chain.certificates + [chain.root.certificate], bundles: stranger.bundle(), at: now)
        }
    }

    @Test("An empty bundle trusts nothing")
    func emptyBundle() async throws {
        let chain = try TestChain.make()
        let empty = X509Bundle(trustDomain: try TrustDomain("example.org"))
        await expectX509Error(.chainVerificationFailed) {
            try await X509SVID.verify(chain: chain.certificates, bundles: empty, at: now)
        }
    }

    @Test("A chain that is sound under another trust domain's bundle does not prove this ID")
    func otherTrustDomainsBundle() async throws {
        // The leaf claims example.org but is signed by other.org's CA; both bundles are known.
        let forged = try TestChain.make(trustDomain: "other.org", id: "spiffe://example.org/workload")
        let exampleOrg = try TestChain.make()
        let bundles = TestBundleSource([try forged.bundle("other.org"), try exampleOrg.bundle()])
        await expectX509Error(.chainVerificationFailed) {
            try await X509SVID.verify(chain: forged.certificates, bundles: bundles, at: now)
        }
        // Sanity: the same source does verify a genuine example.org SVID.
        _ = try await X509SVID.verify(chain: exampleOrg.certificates, bundles: bundles, at: now)
    }

    @Test("No bundle for the leaf's trust domain means untrusted")
    func noBundle() async throws {
        let forged = try TestChain.make(trustDomain: "other.org", id: "spiffe://example.org/workload")
        await expectX509Error(.noBundle, reasonContains: "example.org") {
            try await X509SVID.verify(chain: forged.certificates, bundles: forged.bundle("other.org"), at: now)
        }
        await expectX509Error(.noBundle) {
            try await X509SVID.verify(chain: forged.certificates, bundles: TestBundleSource([]), at: now)
        }
    }

    @Test("A bundle source that answers with another trust domain's bundle is not believed")
    func sourceReturnsWrongBundle() async throws {
        let chain = try TestChain.make()
        // The right authority, filed under the wrong trust domain.
        let misfiled = X509Bundle(trustDomain: try TrustDomain("other.org"), authorities: [chain.root.certificate])
        await expectX509Error(.noBundle, reasonContains: "returned trust domain other.org") {
            try await X509SVID.verify(chain: chain.certificates, bundles: FixedBundleSource(bundle: misfiled), at: now)
        }
    }

    // MARK: - Rejected: signing certificates with a SPIFFE ID path (X509-SVID §4.1)

    @Test("An intermediate whose SPIFFE ID has a path is rejected")
    func intermediateWithPath() async throws {
        let chain = try TestChain.make(intermediates: 1, intermediate: { _, options in
            options.uris = ["spiffe://example.org/intermediate"]
        })
        await expectX509Error(.chainVerificationFailed, reasonContains: "signing certificate 1 of the path") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("A root whose SPIFFE ID has a path is rejected")
    func rootWithPath() async throws {
        let chain = try TestChain.make(rootOptions: { $0.uris = ["spiffe://example.org/root"] })
        await expectX509Error(.chainVerificationFailed, reasonContains: "signing certificate 1 of the path") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }

    @Test("A signing certificate with a malformed spiffe:// URI is rejected")
    func intermediateWithBadSPIFFEURI() async throws {
        let chain = try TestChain.make(intermediates: 1, intermediate: { _, options in
            options.uris = ["spiffe://EXAMPLE.org"]
        })
        await expectX509Error(.chainVerificationFailed, reasonContains: "valid ID with no path") {
            try await X509SVID.verify(chain: chain.certificates, bundles: chain.bundle(), at: now)
        }
    }
}
