import IdentityModel
import Projections
import SPIFFE
import Testing

@Suite("Bundle view")
struct BundleViewTests {
    @Test("own bundle is the union of every server's live authorities; revoked ones leave")
    func union() {
        var h = Harness()
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "a"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "a"))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-2", "c"))))
        h.must(.jwtAuthorityPrepared(.init(authority: F.jwt("server-2", "k"))))
        var bundle = h.state.ownBundle
        #expect(bundle.x509Authorities.map(\.reference) == [F.reference("server-1", "a"), F.reference("server-2", "c")])
        #expect(bundle.x509Authorities[0].certificateDER == Array("cert-a".utf8))
        #expect(bundle.jwtAuthorities.map(\.reference) == [F.reference("server-2", "k")])

        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-1", "b"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-1", "b"))))
        h.must(.x509AuthorityTainted(.init(authority: F.reference("server-1", "a"))))
        bundle = h.state.ownBundle
        #expect(bundle.x509Authorities.count == 3)
        #expect(bundle.x509Authorities.first { $0.reference == F.reference("server-1", "a") }?.tainted == true)

        h.must(.x509AuthorityRevoked(.init(authority: F.reference("server-1", "a"))))
        bundle = h.state.ownBundle
        #expect(bundle.x509Authorities.map(\.reference) == [F.reference("server-1", "b"), F.reference("server-2", "c")])
        #expect(bundle.x509Authorities.allSatisfy { !$0.tainted })
    }

    @Test("upstream-signed authorities put their upstream roots in the bundle, each root once, never tainted")
    func upstreamRoots() {
        var h = Harness()
        func upstreamSigned(_ server: String, _ id: String) -> X509AuthorityDescriptor {
            var descriptor = F.x509(server, id)
            descriptor.upstreamAuthorityID = F.authority("upstream")
            descriptor.upstreamChainDER = [Array("intermediate".utf8)]
            descriptor.upstreamRootsDER = [Array("root-1".utf8), Array("root-2".utf8)]
            return descriptor
        }
        h.must(.x509AuthorityPrepared(.init(authority: upstreamSigned("server-1", "a"))))
        h.must(.x509AuthorityPrepared(.init(authority: upstreamSigned("server-2", "b"))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-3", "c"))))
        var bundle = h.state.ownBundle
        #expect(bundle.x509Authorities.map(\.certificateDER) == [Array("root-1".utf8), Array("root-2".utf8), Array("cert-c".utf8)])
        #expect(bundle.x509Authorities.allSatisfy { !$0.tainted })
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-2", "b"))))
        h.must(.x509AuthorityPrepared(.init(authority: upstreamSigned("server-2", "d"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-2", "d"))))
        h.must(.x509AuthorityTainted(.init(authority: F.reference("server-2", "b"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-3", "c"))))
        h.must(.x509AuthorityPrepared(.init(authority: F.x509("server-3", "e"))))
        h.must(.x509AuthorityActivated(.init(authority: F.reference("server-3", "e"))))
        h.must(.x509AuthorityTainted(.init(authority: F.reference("server-3", "c"))))
        bundle = h.state.ownBundle
        #expect(bundle.x509Authorities.map(\.tainted) == [false, false, true, false])
    }

    @Test("the sequence number rises on every content change and not on activation")
    func sequence() {
        var h = Harness()
        var sequences: [UInt64] = [h.state.ownBundle.sequenceNumber]
        func step(_ event: Event) {
            h.must(event)
            sequences.append(h.state.ownBundle.sequenceNumber)
        }
        step(.x509AuthorityPrepared(.init(authority: F.x509("s", "a"))))
        step(.x509AuthorityActivated(.init(authority: F.reference("s", "a"))))
        step(.jwtAuthorityPrepared(.init(authority: F.jwt("s", "k"))))
        step(.x509AuthorityPrepared(.init(authority: F.x509("s", "b"))))
        step(.x509AuthorityActivated(.init(authority: F.reference("s", "b"))))
        step(.x509AuthorityTainted(.init(authority: F.reference("s", "a"))))
        step(.x509AuthorityRevoked(.init(authority: F.reference("s", "a"))))
        #expect(sequences == [0, 1, 1, 2, 3, 3, 4, 5])
    }

    @Test("content changes report the new sequence as a change")
    func changeReported() {
        var h = Harness()
        let changes = h.must(.x509AuthorityPrepared(.init(authority: F.x509("s", "a"))))
        #expect(changes.last == .bundleChanged(sequenceNumber: 1))
    }

    @Test("federated bundles by trust domain")
    func federated() {
        var h = Harness()
        let partner = FederatedBundle(trustDomain: F.domain("partner.example"), x509AuthoritiesDER: [[9]], sequenceNumber: 4)
        let other = FederatedBundle(trustDomain: F.domain("other.example"), x509AuthoritiesDER: [[8]])
        h.must(.federatedBundleSet(.init(bundle: partner)))
        h.must(.federatedBundleSet(.init(bundle: other)))
        #expect(h.state.federatedBundles[F.domain("partner.example")] == partner)
        #expect(h.state.federatedBundles.count == 2)
    }
}
