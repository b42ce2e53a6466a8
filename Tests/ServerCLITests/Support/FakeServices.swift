import Crypto
import Foundation
import GRPCCore
import SwiftASN1
import SwiftProtobuf
import Wire
import X509

/// Fixed key material the fake server hands out: a self-signed CA and a JWT key.
enum Fixtures {
    static let caKey = P256.Signing.PrivateKey()
    static let jwtKey = P256.Signing.PrivateKey()

    static let caCertificateDER: [UInt8] = {
        let name = try! DistinguishedName { CountryName("US"); OrganizationName("SPIFFE") }
        let now = Date()
        let certificate = try! Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: now - 60, notValidAfter: now + 86_400, issuer: name, subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try! Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectAlternativeNames([.uniformResourceIdentifier("spiffe://example.org")])
            },
            issuerPrivateKey: .init(caKey))
        var serializer = DER.Serializer()
        try! serializer.serialize(certificate)
        return serializer.serializedBytes
    }()

    static func bundle(_ trustDomain: String) -> Spire_Api_Types_Bundle {
        var bundle = Spire_Api_Types_Bundle()
        bundle.trustDomain = trustDomain
        var authority = Spire_Api_Types_X509Certificate()
        authority.asn1 = Data(caCertificateDER)
        bundle.x509Authorities = [authority]
        var key = Spire_Api_Types_JWTKey()
        key.keyID = "kid-1"
        key.publicKey = jwtKey.publicKey.derRepresentation
        key.expiresAt = 1_700_000_000
        bundle.jwtAuthorities = [key]
        bundle.refreshHint = 300
        bundle.sequenceNumber = 2
        return bundle
    }

    static let agent: Spire_Api_Types_Agent = {
        var agent = Spire_Api_Types_Agent()
        agent.id = spiffeID("example.org", "/spire/agent/join_token/abc")
        agent.attestationType = "join_token"
        agent.x509SvidSerialNumber = "1234"
        agent.x509SvidExpiresAt = 1_700_000_000
        var selector = Spire_Api_Types_Selector()
        selector.type = "join_token"
        selector.value = "abc"
        agent.selectors = [selector]
        return agent
    }()

    static func authority(_ id: String, upstream: String = "") -> Spire_Api_Server_Localauthority_V1_AuthorityState {
        var state = Spire_Api_Server_Localauthority_V1_AuthorityState()
        state.authorityID = id
        state.expiresAt = 1_700_000_000
        state.upstreamAuthoritySubjectKeyID = upstream
        return state
    }

    /// An unsigned JWT whose payload carries `exp` (the CLI reads it without verifying).
    static func token(expiresAt: Int64) -> String {
        func encode(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        }
        return encode("{\"alg\":\"ES256\"}") + "." + encode("{\"exp\":\(expiresAt)}") + ".c2ln"
    }
}

struct AgentService: Spire_Api_Server_Agent_V1_Agent.SimpleServiceProtocol {
    let fake: FakeServer

    func countAgents(request: Spire_Api_Server_Agent_V1_CountAgentsRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_CountAgentsResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Agent_V1_CountAgentsResponse()
        response.count = 1
        return response
    }

    func listAgents(request: Spire_Api_Server_Agent_V1_ListAgentsRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_ListAgentsResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Agent_V1_ListAgentsResponse()
        response.agents = [Fixtures.agent]
        return response
    }

    func getAgent(request: Spire_Api_Server_Agent_V1_GetAgentRequest, context: ServerContext) async throws -> Spire_Api_Types_Agent {
        fake.record(request)
        guard request.id == Fixtures.agent.id else { throw RPCError(code: .notFound, message: "agent not found") }
        return Fixtures.agent
    }

    func deleteAgent(request: Spire_Api_Server_Agent_V1_DeleteAgentRequest, context: ServerContext) async throws
        -> Google_Protobuf_Empty
    {
        fake.record(request)
        guard request.id == Fixtures.agent.id else { throw RPCError(code: .notFound, message: "agent not found") }
        return Google_Protobuf_Empty()
    }

    func banAgent(request: Spire_Api_Server_Agent_V1_BanAgentRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        fake.record(request)
        return Google_Protobuf_Empty()
    }

    func attestAgent(
        request: RPCAsyncSequence<Spire_Api_Server_Agent_V1_AttestAgentRequest, any Error>,
        response: RPCWriter<Spire_Api_Server_Agent_V1_AttestAgentResponse>, context: ServerContext
    ) async throws { throw unimplemented }

    func renewAgent(request: Spire_Api_Server_Agent_V1_RenewAgentRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_RenewAgentResponse
    { throw unimplemented }

    func createJoinToken(request: Spire_Api_Server_Agent_V1_CreateJoinTokenRequest, context: ServerContext) async throws
        -> Spire_Api_Types_JoinToken
    {
        fake.record(request)
        var token = Spire_Api_Types_JoinToken()
        token.value = "0b6e2f2c-token"
        token.expiresAt = 1_700_000_600
        return token
    }

    func postStatus(request: Spire_Api_Server_Agent_V1_PostStatusRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_PostStatusResponse
    { throw unimplemented }
}

struct BundleService: Spire_Api_Server_Bundle_V1_Bundle.SimpleServiceProtocol {
    let fake: FakeServer

    func countBundles(request: Spire_Api_Server_Bundle_V1_CountBundlesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_CountBundlesResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Bundle_V1_CountBundlesResponse()
        response.count = 3
        return response
    }

    func getBundle(request: Spire_Api_Server_Bundle_V1_GetBundleRequest, context: ServerContext) async throws -> Spire_Api_Types_Bundle {
        fake.record(request)
        return Fixtures.bundle("example.org")
    }

    func appendBundle(request: Spire_Api_Server_Bundle_V1_AppendBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Types_Bundle
    { throw unimplemented }

    func publishJWTAuthority(request: Spire_Api_Server_Bundle_V1_PublishJWTAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_PublishJWTAuthorityResponse
    { throw unimplemented }

    func listFederatedBundles(request: Spire_Api_Server_Bundle_V1_ListFederatedBundlesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_ListFederatedBundlesResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Bundle_V1_ListFederatedBundlesResponse()
        response.bundles = [Fixtures.bundle("other.org"), Fixtures.bundle("third.org")]
        return response
    }

    func getFederatedBundle(request: Spire_Api_Server_Bundle_V1_GetFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Types_Bundle
    {
        fake.record(request)
        guard request.trustDomain == "spiffe://other.org" || request.trustDomain == "other.org" else {
            throw RPCError(code: .notFound, message: "bundle not found")
        }
        return Fixtures.bundle("other.org")
    }

    func batchCreateFederatedBundle(
        request: Spire_Api_Server_Bundle_V1_BatchCreateFederatedBundleRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse { throw unimplemented }

    func batchUpdateFederatedBundle(
        request: Spire_Api_Server_Bundle_V1_BatchUpdateFederatedBundleRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse { throw unimplemented }

    func batchSetFederatedBundle(request: Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse()
        for bundle in request.bundle {
            var result = Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse.Result()
            result.status = bundle.trustDomain == "example.org" ? status(.invalidArgument, "cannot set the server's own bundle") : okStatus
            result.bundle = bundle
            response.results.append(result)
        }
        return response
    }

    func batchDeleteFederatedBundle(
        request: Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleRequest, context: ServerContext
    ) async throws -> Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse {
        fake.record(request)
        var response = Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse()
        for trustDomain in request.trustDomains {
            var result = Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse.Result()
            result.trustDomain = trustDomain
            result.status = trustDomain == "other.org" ? okStatus : status(.notFound, "no such bundle")
            response.results.append(result)
        }
        return response
    }
}

struct SVIDService: Spire_Api_Server_Svid_V1_SVID.SimpleServiceProtocol {
    let fake: FakeServer

    func mintX509SVID(request: Spire_Api_Server_Svid_V1_MintX509SVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_MintX509SVIDResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Svid_V1_MintX509SVIDResponse()
        response.svid.certChain = [Data(Fixtures.caCertificateDER)]
        response.svid.expiresAt = Int64(Date().timeIntervalSince1970) + 3600
        return response
    }

    func mintJWTSVID(request: Spire_Api_Server_Svid_V1_MintJWTSVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_MintJWTSVIDResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Svid_V1_MintJWTSVIDResponse()
        let expiresAt = Int64(Date().timeIntervalSince1970) + 300
        response.svid.token = Fixtures.token(expiresAt: expiresAt)
        response.svid.id = request.id
        response.svid.expiresAt = expiresAt
        return response
    }

    func batchNewX509SVID(request: Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse
    { throw unimplemented }

    func newJWTSVID(request: Spire_Api_Server_Svid_V1_NewJWTSVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_NewJWTSVIDResponse
    { throw unimplemented }

    func newDownstreamX509CA(request: Spire_Api_Server_Svid_V1_NewDownstreamX509CARequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_NewDownstreamX509CAResponse
    { throw unimplemented }
}

struct LocalAuthorityService: Spire_Api_Server_Localauthority_V1_LocalAuthority.SimpleServiceProtocol {
    typealias StateResponse = Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse
    typealias IDRequest = Spire_Api_Server_Localauthority_V1_AuthorityIDRequest
    let fake: FakeServer

    func states() -> StateResponse {
        var response = StateResponse()
        response.active = Fixtures.authority("active-id")
        return response
    }

    func getJWTAuthorityState(request: Spire_Api_Server_Localauthority_V1_GetAuthorityStateRequest, context: ServerContext) async throws
        -> StateResponse
    {
        fake.record(request)
        return states()
    }

    func prepareJWTAuthority(request: Spire_Api_Server_Localauthority_V1_PrepareAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse()
        response.preparedAuthority = Fixtures.authority("prepared-id")
        return response
    }

    func activateJWTAuthority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse()
        response.activatedAuthority = Fixtures.authority(request.authorityID)
        return response
    }

    func taintJWTAuthority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    {
        fake.record(request)
        throw RPCError(code: .failedPrecondition, message: "only the old authority can be tainted")
    }

    func revokeJWTAuthority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse()
        response.revokedAuthority = Fixtures.authority(request.authorityID)
        return response
    }

    func getX509AuthorityState(request: Spire_Api_Server_Localauthority_V1_GetAuthorityStateRequest, context: ServerContext) async throws
        -> StateResponse
    {
        fake.record(request)
        var response = states()
        response.old = Fixtures.authority("old-id", upstream: "ab:cd")
        return response
    }

    func prepareX509Authority(request: Spire_Api_Server_Localauthority_V1_PrepareAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse()
        response.preparedAuthority = Fixtures.authority("prepared-id")
        return response
    }

    func activateX509Authority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse()
        response.activatedAuthority = Fixtures.authority(request.authorityID)
        return response
    }

    func taintX509Authority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse()
        response.taintedAuthority = Fixtures.authority(request.authorityID)
        return response
    }

    func revokeX509Authority(request: IDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse()
        response.revokedAuthority = Fixtures.authority(request.authorityID)
        return response
    }
}
