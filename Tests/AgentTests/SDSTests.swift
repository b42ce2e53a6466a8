import Agent
import Config
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import SwiftProtobuf
import Testing
import Wire

/// Envoy SDS v3 over the real socket with a grpc-swift client (SPIFFE-WIRE §3.2).
@Suite("SDS endpoint", .timeLimit(.minutes(1)))
struct SDSTests {
    typealias Request = Envoy_Service_Discovery_V3_DiscoveryRequest
    typealias Response = Envoy_Service_Discovery_V3_DiscoveryResponse
    typealias Secret = Envoy_Extensions_TransportSockets_Tls_V3_Secret
    static let secretType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

    static func node(major: UInt32 = 1, minor: UInt32 = 40, metadata: [String: Google_Protobuf_Value] = [:])
        -> Envoy_Config_Core_V3_Node
    {
        .with { node in
            node.id = "sidecar"
            node.cluster = "test"
            node.userAgentName = "envoy"
            node.userAgentBuildVersion = .with { $0.version = .with { $0.majorNumber = major; $0.minorNumber = minor } }
            if !metadata.isEmpty { node.metadata = .with { $0.fields = metadata } }
        }
    }

    static func secrets(_ response: Response) throws -> [Secret] {
        try response.resources.map { any in
            #expect(any.typeURL == secretType)
            return try Secret(unpackingAny: any)
        }
    }

    /// Opens StreamSecrets; `body` gets a function to send requests and the response iterator.
    static func withStream(
        _ harness: EndpointHarness,
        _ body: @escaping @Sendable (
            _ send: @escaping @Sendable (Request) -> Void,
            _ responses: inout RPCAsyncSequence<Response, any Error>.AsyncIterator
        ) async throws -> Void
    ) async throws {
        let (outgoing, continuation) = AsyncStream.makeStream(of: Request.self, bufferingPolicy: .bufferingOldest(16))
        try await harness.withClient { grpc in
            let client = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: grpc)
            try await client.streamSecrets(requestProducer: { writer in
                for await request in outgoing { try await writer.write(request) }
            }, onResponse: { response in
                var messages = response.messages.makeAsyncIterator()
                try await body({ continuation.yield($0) }, &messages)
                continuation.finish()
            })
        }
    }

    @Test("StreamSecrets: versions, nonces, ACK/NACK, stale nonces, node reuse, updates")
    func streamProtocol() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await Self.withStream(harness) { send, responses in
                send(.with { $0.node = Self.node(); $0.resourceNames = ["default"]; $0.typeURL = Self.secretType })
                let first = try #require(try await responses.next())
                #expect(first.versionInfo == "1")
                #expect(first.typeURL == Self.secretType)
                #expect(first.nonce.count == 8 && first.nonce.allSatisfy(\.isHexDigit))
                let secret = try #require(try Self.secrets(first).first)
                #expect(try Self.secrets(first).count == 1)
                #expect(secret.name == "default")
                let pem = String(decoding: secret.tlsCertificate.certificateChain.inlineBytes, as: UTF8.self)
                let key = String(decoding: secret.tlsCertificate.privateKey.inlineBytes, as: UTF8.self)
                let svid = try X509SVID(parsing: pem, privateKey: key)
                #expect(svid.id.string == "spiffe://example.org/w")
                #expect(key.hasPrefix("-----BEGIN PRIVATE KEY-----"))

                // ACK (no node: reused), a NACK and a stale nonce with new names: nothing is sent.
                send(.with { $0.versionInfo = "1"; $0.responseNonce = first.nonce; $0.resourceNames = ["default"]; $0.typeURL = Self.secretType })
                send(.with {
                    $0.versionInfo = ""; $0.responseNonce = first.nonce; $0.resourceNames = ["default"]; $0.typeURL = Self.secretType
                    $0.errorDetail = .with { $0.code = 3; $0.message = "rejected" }
                })
                send(.with { $0.versionInfo = "1"; $0.responseNonce = "deadbeef"; $0.resourceNames = ["ROOTCA"]; $0.typeURL = Self.secretType })
                // An update is sent for the last accepted request, with the next version.
                let rotated = try authority.svid("/w")
                provider.update { $0.entries[0].svid = rotated }
                let second = try #require(try await responses.next())
                #expect(second.versionInfo == "2")
                #expect(second.nonce != first.nonce)
                let rotatedSecret = try #require(try Self.secrets(second).first)
                #expect(rotatedSecret.name == "default")
                #expect(try X509SVID(
                    parsing: String(decoding: rotatedSecret.tlsCertificate.certificateChain.inlineBytes, as: UTF8.self),
                    privateKey: String(decoding: rotatedSecret.tlsCertificate.privateKey.inlineBytes, as: UTF8.self)) == rotated)

                // A change of names is answered at once, at the same version.
                send(.with { $0.versionInfo = "2"; $0.responseNonce = second.nonce; $0.resourceNames = ["ROOTCA"]; $0.typeURL = Self.secretType })
                let third = try #require(try await responses.next())
                #expect(third.versionInfo == "2")
                let bundle = try #require(try Self.secrets(third).first)
                #expect(bundle.name == "ROOTCA")
                #expect(bundle.validationContext.customValidatorConfig.name == "envoy.tls.cert_validator.spiffe")
            }
        }
    }

    @Test("unknown resource names end the stream with InvalidArgument")
    func unknownName() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            do {
                try await Self.withStream(harness) { send, responses in
                    send(.with { $0.node = Self.node(); $0.resourceNames = ["spiffe://example.org/other"] })
                    _ = try await responses.next()
                    Issue.record("expected InvalidArgument")
                }
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("workload is not authorized for the requested identities"))
            }
        }
    }

    @Test("validation contexts: SPIFFE validator for Envoy > 1.17, trusted_ca otherwise or when disabled")
    func validationContexts() async throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let provider = try StaticIdentityProvider.make(authority, entries: [], federated: [partner])
        provider.update { state in
            state.entries = [.init(entryID: "e1", selectors: TestSelectors.current, svid: try! authority.svid("/w"),
                                   federatesWith: [partner.trustDomain])]
        }
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let sds = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: grpc)
                func fetch(_ names: [String], _ node: Envoy_Config_Core_V3_Node?) async throws -> Response {
                    try await sds.fetchSecrets(.with { request in
                        request.resourceNames = names
                        request.typeURL = Self.secretType
                        if let node { request.node = node }
                    })
                }
                // Validator form for new and for unknown Envoys; names without spiffe://.
                for node in [Self.node(), nil] {
                    let response = try await fetch(["ROOTCA"], node)
                    #expect(response.versionInfo == "" && response.nonce == "")
                    let context = try Self.secrets(response)[0].validationContext
                    let config = try Envoy_Extensions_TransportSockets_Tls_V3_SPIFFECertValidatorConfig(
                        unpackingAny: context.customValidatorConfig.typedConfig)
                    #expect(context.customValidatorConfig.typedConfig.typeURL
                        == "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig")
                    #expect(config.trustDomains.map(\.name) == ["example.org"])
                    let pem = String(decoding: config.trustDomains[0].trustBundle.inlineBytes, as: UTF8.self)
                    #expect(try X509Bundle(trustDomain: authority.trustDomain, pemEncoded: pem) == authority.x509Bundle)
                }
                let all = try Self.secrets(try await fetch(["ALL"], Self.node()))
                #expect(all.map(\.name) == ["ALL"])
                let allConfig = try Envoy_Extensions_TransportSockets_Tls_V3_SPIFFECertValidatorConfig(
                    unpackingAny: all[0].validationContext.customValidatorConfig.typedConfig)
                #expect(allConfig.trustDomains.map(\.name) == ["example.org", "partner.test"])

                // Old Envoy, or disabled by node metadata: trusted_ca PEM; ALL is then Internal.
                let disabledNodes = [
                    Self.node(minor: 17),
                    Self.node(metadata: ["disable_spiffe_cert_validation": .init(booleanLiteral: true)]),
                    Self.node(metadata: ["disable_spiffe_cert_validation": .init(stringLiteral: "true")]),
                ]
                for node in disabledNodes {
                    let context = try Self.secrets(try await fetch(["spiffe://partner.test"], node))[0].validationContext
                    #expect(!context.hasCustomValidatorConfig)
                    let pem = String(decoding: context.trustedCa.inlineBytes, as: UTF8.self)
                    #expect(try X509Bundle(trustDomain: partner.trustDomain, pemEncoded: pem) == partner.x509Bundle)
                    do {
                        _ = try await fetch(["ALL"], node)
                        Issue.record("ALL without the SPIFFE validator must fail")
                    } catch let error as RPCError {
                        #expect(error.code == .internalError)
                    }
                }
                // Everything when no names are given: bundles by TD ID, SVIDs by SPIFFE ID.
                let everything = try Self.secrets(try await fetch([], Self.node()))
                #expect(everything.map(\.name) == ["spiffe://example.org", "spiffe://partner.test", "spiffe://example.org/w"])
                // ROOTCA and ALL at once cannot both be served.
                do {
                    _ = try await fetch(["ROOTCA", "ALL"], Self.node())
                    Issue.record("ROOTCA and ALL together must fail")
                } catch let error as RPCError {
                    #expect(error.code == .invalidArgument)
                }
            }
        }
    }

    @Test("configured names and the agent-wide validator switch are honoured")
    func configuredNames() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        let names = AgentConfig.SDS(defaultSVIDName: "svid", defaultBundleName: "bundle", defaultAllBundlesName: "everything",
                                    disableSPIFFECertValidation: true)
        try await EndpointHarness.with(provider: provider, sds: names) { harness in
            try await harness.withClient { grpc in
                let sds = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: grpc)
                let response = try await sds.fetchSecrets(.with { $0.resourceNames = ["svid", "bundle"] })
                let secrets = try Self.secrets(response)
                #expect(Set(secrets.map(\.name)) == ["svid", "bundle"])
                #expect(secrets.first { $0.name == "bundle" }?.validationContext.hasTrustedCa == true)
                do {
                    _ = try await sds.fetchSecrets(.with { $0.resourceNames = ["default"] })
                    Issue.record("the default name was renamed")
                } catch let error as RPCError {
                    #expect(error.code == .invalidArgument)
                }
                // The node can turn the validator back on.
                let enabled = try await sds.fetchSecrets(.with {
                    $0.resourceNames = ["bundle"]
                    $0.node = Self.node(metadata: ["disable_spiffe_cert_validation": .init(booleanLiteral: false)])
                })
                #expect(try Self.secrets(enabled)[0].validationContext.hasCustomValidatorConfig)
            }
        }
    }

    @Test("shutdown ends an open SDS stream with Unavailable while the client keeps it open")
    func shutdownEndsStream() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            do {
                try await Self.withStream(harness) { send, responses in
                    send(.with { $0.node = Self.node(); $0.resourceNames = ["default"] })
                    _ = try #require(try await responses.next())
                    #expect(harness.server.openStreamCount == 1)
                    harness.server.beginGracefulShutdown()
                    while try await responses.next() != nil {}
                    Issue.record("expected Unavailable")
                }
            } catch let error as RPCError {
                #expect(error.code == .unavailable)
            }
            #expect(provider.subscriberCount == 0)
        }
    }

    @Test("a client that goes away releases its stream and subscription")
    func clientGoesAway() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            struct GoingAway: Error {}
            for abrupt in [false, true, false, true] {
                do {
                    try await Self.withStream(harness) { send, responses in
                        send(.with { $0.node = Self.node(); $0.resourceNames = ["ROOTCA"] })
                        _ = try #require(try await responses.next())
                        // Throwing leaves the request stream open: the RPC is cancelled under it.
                        if abrupt { throw GoingAway() }
                    }
                } catch is GoingAway {}
            }
            try await eventually("streams released", timeout: .seconds(5)) {
                harness.server.openStreamCount == 0 && provider.subscriberCount == 0
            }
        }
    }

    @Test("DeltaSecrets is Unimplemented")
    func deltaUnimplemented() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/w", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            try await harness.withClient { grpc in
                let sds = Envoy_Service_Secret_V3_SecretDiscoveryService.Client(wrapping: grpc)
                do {
                    try await sds.deltaSecrets(requestProducer: { _ in }, onResponse: { response in
                        for try await _ in response.messages {}
                    })
                    Issue.record("expected Unimplemented")
                } catch let error as RPCError {
                    #expect(error.code == .unimplemented)
                }
            }
        }
    }
}
