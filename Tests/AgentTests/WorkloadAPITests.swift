import Agent
import Authority
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import SPIFFE
import Testing
import Synchronization
import SwiftProtobuf
import Wire

/// The Workload API over the real socket with a grpc-swift client (SPIFFE-WIRE §1).
@Suite("Workload API endpoint", .timeLimit(.minutes(1)))
struct WorkloadAPITests {
    typealias Client = WorkloadAPI_SpiffeWorkloadAPI.Client<HTTP2ClientTransport.Posix>

    static func expectCode(_ code: RPCError.Code, message: String? = nil, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(code), got success")
        } catch let error as RPCError {
            #expect(error.code == code, "\(error)")
            if let message { #expect(error.message == message) }
        } catch {
            Issue.record("expected RPCError \(code), got \(error)")
        }
    }

    @Test("the security header must be exactly one value \"true\"; SDS and health are exempt")
    func securityHeaderRequired() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                let request = WorkloadAPI_JWTSVIDRequest.with { $0.audience = ["a"] }
                let bad: [Metadata] = [[:], ["workload.spiffe.io": "TRUE"], ["workload.spiffe.io": "1"],
                                       ["workload.spiffe.io": "true", "Workload.Spiffe.IO": "true"]]
                for metadata in bad {
                    await Self.expectCode(.invalidArgument, message: "security header missing from request") {
                        _ = try await client.fetchJWTSVID(request, metadata: metadata)
                    }
                    await Self.expectCode(.invalidArgument, message: "security header missing from request") {
                        try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: metadata) { response in
                            for try await _ in response.messages { break }
                        }
                    }
                }
                _ = try await client.fetchJWTSVID(request, metadata: workloadHeader)
                let sds = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: grpc)
                let secrets = try await sds.fetchSecrets(.with { $0.resourceNames = ["ROOTCA"] })
                #expect(secrets.resources.count == 1)
                let health = Grpc_Health_V1_Health.Client(wrapping: grpc)
                #expect(try await health.check(.with { $0.service = "SpiffeWorkloadAPI" }).status == .serving)
            }
        }
    }

    @Test("FetchX509SVID: full state, entry-ID order, unique hints, federated bundles by federatesWith")
    func x509SVIDContent() async throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let stranger = try TestAuthority("stranger.test")
        let me = TestSelectors.current
        let provider = try StaticIdentityProvider.make(authority, entries: [], federated: [partner, stranger])
        provider.update { state in
            state.entries = [
                .init(entryID: "c", selectors: me, svid: try! authority.svid("/third"), hint: "internal"),
                .init(entryID: "a", selectors: me, svid: try! authority.svid("/first"), hint: "internal",
                      federatesWith: [partner.trustDomain]),
                .init(entryID: "b", selectors: me, svid: try! authority.svid("/second"), hint: "external"),
                .init(entryID: "d", selectors: me.union([WorkloadSelector(type: "unix", value: "uid:4242")]),
                      svid: try! authority.svid("/not-mine")),
            ]
        }
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                let response = try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) {
                    try await $0.messages.first { _ in true }!
                }
                #expect(response.svids.map(\.spiffeID) == ["spiffe://example.org/first", "spiffe://example.org/second"])
                #expect(response.svids.map(\.hint) == ["internal", "external"])
                for svid in response.svids {
                    let parsed = try X509SVID(derEncoded: Array(svid.x509Svid), privateKey: Array(svid.x509SvidKey))
                    #expect(parsed.id.string == svid.spiffeID)
                    let bundle = try X509Bundle(trustDomain: authority.trustDomain, derEncoded: Array(svid.bundle))
                    #expect(bundle == authority.x509Bundle)
                    _ = try await X509SVID.verify(chain: parsed.certificates, bundles: bundle, at: Date())
                }
                #expect(Array(response.federatedBundles.keys) == ["spiffe://partner.test"])
                #expect(response.crl.isEmpty)
            }
        }
    }

    @Test("FetchX509SVID streams rotations and ends with PermissionDenied when identities vanish")
    func x509SVIDRotation() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                await Self.expectCode(.permissionDenied, message: "no identity issued") {
                    try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) { response in
                        var messages = response.messages.makeAsyncIterator()
                        let first = try #require(try await messages.next())
                        let rotated = try authority.svid("/w")
                        provider.update { $0.entries[0].svid = rotated }
                        let second = try #require(try await messages.next())
                        #expect(second.svids[0].x509Svid != first.svids[0].x509Svid)
                        #expect(second.svids[0].x509Svid == Data(try rotated.derEncoded().certificates))
                        provider.update { $0.entries = [] }
                        while try await messages.next() != nil {}
                    }
                }
                #expect(provider.subscriberCount == 0)
            }
        }
    }

    @Test("bundle streams send the full state at once and skip repeats")
    func bundleStreams() async throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let provider = try StaticIdentityProvider.make(authority, entries: [], federated: [partner])
        provider.update { state in
            state.entries = [.init(entryID: "e1", selectors: TestSelectors.current, svid: try! authority.svid("/w"),
                                   federatesWith: [partner.trustDomain])]
        }
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                try await client.fetchX509Bundles(WorkloadAPI_X509BundlesRequest(), metadata: workloadHeader) { response in
                    var messages = response.messages.makeAsyncIterator()
                    let first = try #require(try await messages.next())
                    #expect(Set(first.bundles.keys) == ["spiffe://example.org", "spiffe://partner.test"])
                    // An SVID rotation leaves the bundles alone: nothing is sent for it.
                    let rotated = try authority.svid("/w")
                    provider.update { $0.entries[0].svid = rotated }
                    let other = try TestAuthority("example.org")
                    provider.update { $0.x509Bundle.add(other.signing.certificate) }
                    let second = try #require(try await messages.next())
                    let bundle = try X509Bundle(trustDomain: authority.trustDomain, derEncoded: Array(second.bundles["spiffe://example.org"]!))
                    #expect(bundle.authorities.count == 2)
                }
                try await client.fetchJWTBundles(WorkloadAPI_JWTBundlesRequest(), metadata: workloadHeader) { response in
                    let first = try #require(try await response.messages.first { _ in true })
                    let jwks = try JWTBundle(trustDomain: authority.trustDomain, jsonEncoded: Array(first.bundles["spiffe://example.org"]!))
                    #expect(jwks == (try authority.jwtBundle))
                    #expect(first.bundles["spiffe://partner.test"] != nil)
                }
            }
        }
    }

    @Test("JWT-SVIDs: audience required, spiffe_id filter, validation and its failures")
    func jwtSVIDs() async throws {
        let authority = try TestAuthority("example.org")
        let me = TestSelectors.current
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/one", me), ("e2", "/two", me)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                await Self.expectCode(.invalidArgument, message: "audience must be specified") {
                    _ = try await client.fetchJWTSVID(WorkloadAPI_JWTSVIDRequest(), metadata: workloadHeader)
                }
                await Self.expectCode(.invalidArgument) {
                    _ = try await client.fetchJWTSVID(.with { $0.audience = ["a"]; $0.spiffeID = "not an id" }, metadata: workloadHeader)
                }
                await Self.expectCode(.permissionDenied) {
                    _ = try await client.fetchJWTSVID(
                        .with { $0.audience = ["a"]; $0.spiffeID = "spiffe://example.org/three" }, metadata: workloadHeader)
                }
                let all = try await client.fetchJWTSVID(.with { $0.audience = ["a", "b"] }, metadata: workloadHeader)
                #expect(all.svids.map(\.spiffeID) == ["spiffe://example.org/one", "spiffe://example.org/two"])
                let one = try await client.fetchJWTSVID(
                    .with { $0.audience = ["a"]; $0.spiffeID = "spiffe://example.org/two" }, metadata: workloadHeader)
                #expect(one.svids.map(\.spiffeID) == ["spiffe://example.org/two"])
                let token = all.svids[0].svid

                let valid = try await client.validateJWTSVID(.with { $0.audience = "b"; $0.svid = token }, metadata: workloadHeader)
                #expect(valid.spiffeID == "spiffe://example.org/one")
                #expect(valid.claims.fields["aud"]?.listValue.values.map(\.stringValue) == ["a", "b"])
                #expect(valid.claims.fields["sub"]?.stringValue == "spiffe://example.org/one")
                #expect(valid.claims.fields["exp"]?.numberValue ?? 0 > Date().timeIntervalSince1970)

                await Self.expectCode(.invalidArgument, message: "audience must be specified") {
                    _ = try await client.validateJWTSVID(.with { $0.svid = token }, metadata: workloadHeader)
                }
                await Self.expectCode(.invalidArgument, message: "svid must be specified") {
                    _ = try await client.validateJWTSVID(.with { $0.audience = "a" }, metadata: workloadHeader)
                }
                await Self.expectCode(.invalidArgument) {
                    _ = try await client.validateJWTSVID(.with { $0.audience = "c"; $0.svid = token }, metadata: workloadHeader)
                }
                let forger = try TestAuthority("example.org")
                let forged = try JWTSVID.sign(
                    subject: try authority.id("/one"), audience: ["a"], expiresAt: Date() + 60, issuedAt: Date(),
                    keyID: authority.jwtKeyID, signer: forger.jwtAuthority.key)
                await Self.expectCode(.invalidArgument) {
                    _ = try await client.validateJWTSVID(.with { $0.audience = "a"; $0.svid = forged.token }, metadata: workloadHeader)
                }
            }
        }
    }

    @Test("a client that goes away releases its watch and subscription")
    func clientGoesAway() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                for _ in 0..<3 {
                    // Returning from the response handler cancels the RPC.
                    try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) { response in
                        _ = try await response.messages.first { _ in true }
                    }
                    try await client.fetchJWTBundles(WorkloadAPI_JWTBundlesRequest(), metadata: workloadHeader) { response in
                        _ = try await response.messages.first { _ in true }
                    }
                }
                try await eventually("watches released", timeout: .seconds(5)) {
                    harness.server.openStreamCount == 0 && provider.subscriberCount == 0
                }
            }
        }
    }

    @Test("ValidateJWTSVID trusts federated JWT bundles the caller federates with, and trims foreign claims")
    func federatedJWT() async throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let stranger = try TestAuthority("stranger.test")
        let provider = try StaticIdentityProvider.make(authority, entries: [], federated: [partner, stranger])
        provider.update { state in
            state.entries = [.init(entryID: "e1", selectors: TestSelectors.current, svid: try! authority.svid("/w"),
                                   federatesWith: [partner.trustDomain])]
        }
        func token(_ issuer: TestAuthority) throws -> String {
            try JWTSVID.sign(
                subject: try issuer.id("/peer"), audience: ["me"], expiresAt: Date() + 60, issuedAt: Date(),
                keyID: issuer.jwtKeyID, signer: issuer.jwtAuthority.key, issuer: "https://issuer.example",
                extraClaims: ["role": .string("admin")]
            ).token
        }
        let (partnerToken, strangerToken, ownToken) = (try token(partner), try token(stranger), try token(authority))
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                let valid = try await client.validateJWTSVID(
                    .with { $0.audience = "me"; $0.svid = partnerToken }, metadata: workloadHeader)
                #expect(valid.spiffeID == "spiffe://partner.test/peer")
                #expect(Set(valid.claims.fields.keys) == ["sub", "aud", "exp"])
                // A trust domain the caller does not federate with is not trusted.
                await Self.expectCode(.invalidArgument) {
                    _ = try await client.validateJWTSVID(
                        .with { $0.audience = "me"; $0.svid = strangerToken }, metadata: workloadHeader)
                }
                // Own-domain tokens keep every claim.
                let own = try await client.validateJWTSVID(
                    .with { $0.audience = "me"; $0.svid = ownToken }, metadata: workloadHeader)
                #expect(own.claims.fields["role"]?.stringValue == "admin")
                #expect(own.claims.fields["iss"]?.stringValue == "https://issuer.example")
            }
        }
    }

    @Test("FetchJWTSVID is Unavailable when the provider cannot mint")
    func mintingUnavailable() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        provider.update { $0.jwtAuthority = nil }
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                await Self.expectCode(.unavailable) {
                    _ = try await Client(wrapping: grpc).fetchJWTSVID(.with { $0.audience = ["a"] }, metadata: workloadHeader)
                }
            }
        }
    }

    @Test("WIT RPCs are Unimplemented")
    func witUnimplemented() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                await Self.expectCode(.unimplemented) {
                    try await client.fetchWITSVID(WorkloadAPI_WITSVIDRequest(), metadata: workloadHeader) { response in
                        for try await _ in response.messages {}
                    }
                }
                await Self.expectCode(.unimplemented) {
                    try await client.fetchWITBundles(WorkloadAPI_WITBundlesRequest(), metadata: workloadHeader) { response in
                        for try await _ in response.messages {}
                    }
                }
            }
        }
    }

    @Test("shutdown ends open watch streams with Unavailable, then removes the socket")
    func shutdownEndsStreams() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        let socket = Mutex<String>("")
        try await EndpointHarness.with(provider: provider) { harness in
            socket.withLock { $0 = harness.socketPath }
            try await harness.withClient { grpc in
                let client = Client(wrapping: grpc)
                await Self.expectCode(.unavailable) {
                    try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: workloadHeader) { response in
                        var messages = response.messages.makeAsyncIterator()
                        _ = try await messages.next()
                        #expect(harness.server.openStreamCount == 1)
                        harness.server.beginGracefulShutdown()
                        while try await messages.next() != nil {}
                    }
                }
            }
        }
        #expect(!FileManager.default.fileExists(atPath: socket.withLock { $0 }))
    }
}
