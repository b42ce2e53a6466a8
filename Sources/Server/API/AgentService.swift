import Attestation
import Authority
import Crypto
import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import SwiftProtobuf
import Wire
import X509

/// SPIRE's `spire.api.server.agent.v1.Agent`: admin views of agents, join tokens, and the
/// agent's own attest and renew calls.
struct AgentService: Spire_Api_Server_Agent_V1_Agent.SimpleServiceProtocol {
    let api: ServerAPI
    /// SPIRE's agent SVID lifetime (`agent_ttl`, else the default X509-SVID TTL).
    let agentTTL: Duration
    /// `NodeAttestor "x509pop"`'s CA bundle, when configured.
    let x509pop: X509PoPVerifier?

    func countAgents(request: Spire_Api_Server_Agent_V1_CountAgentsRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_CountAgentsResponse
    {
        _ = try await api.adminRead()
        var response = Spire_Api_Server_Agent_V1_CountAgentsResponse()
        response.count = Int32(try filtered(request.hasFilter ? request.filter : nil).count)
        return response
    }

    func listAgents(request: Spire_Api_Server_Agent_V1_ListAgentsRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_ListAgentsResponse
    {
        _ = try await api.adminRead()
        var agents = try filtered(request.hasFilter ? request.filter : nil)
        if !request.pageToken.isEmpty { agents = agents.filter { $0.spiffeID.string > request.pageToken } }
        var response = Spire_Api_Server_Agent_V1_ListAgentsResponse()
        let pageSize = request.pageSize <= 0 ? agents.count : min(Int(request.pageSize), 1_000)
        let page = agents.prefix(pageSize)
        response.agents = page.map(WireMapping.wire)
        if request.pageSize > 0, agents.count > pageSize, let last = page.last { response.nextPageToken = last.spiffeID.string }
        return response
    }

    func getAgent(request: Spire_Api_Server_Agent_V1_GetAgentRequest, context: ServerContext) async throws -> Spire_Api_Types_Agent {
        _ = try await api.adminRead()
        return WireMapping.wire(try agent(request.id))
    }

    func deleteAgent(request: Spire_Api_Server_Agent_V1_DeleteAgentRequest, context: ServerContext) async throws
        -> SwiftProtobuf.Google_Protobuf_Empty
    {
        let actor = try api.adminCaller()
        let agent = try agent(request.id)
        try await submit(.agentEvicted(AgentEvicted(agentID: agent.spiffeID)), by: actor)
        return .init()
    }

    func banAgent(request: Spire_Api_Server_Agent_V1_BanAgentRequest, context: ServerContext) async throws
        -> SwiftProtobuf.Google_Protobuf_Empty
    {
        let actor = try api.adminCaller()
        let agent = try agent(request.id)
        try await submit(.agentBanned(AgentBanned(agentID: agent.spiffeID)), by: actor)
        return .init()
    }

    func createJoinToken(request: Spire_Api_Server_Agent_V1_CreateJoinTokenRequest, context: ServerContext) async throws
        -> Spire_Api_Types_JoinToken
    {
        let actor = try api.adminCaller()
        guard request.ttl >= 1 else { throw RPCError(code: .invalidArgument, message: "ttl is required, you must provide one") }
        let token = request.token.isEmpty ? UUID().uuidString.lowercased() : request.token
        let agentID: SPIFFEID
        do {
            agentID = try SPIFFEID(trustDomain: api.trustDomain, segments: ["spire", "agent", "join_token", token])
        } catch {
            throw RPCError(code: .invalidArgument, message: "invalid join token \"\(token)\": \(error)")
        }
        let now = Date()
        let expiresAt = now + TimeInterval(request.ttl)
        let hash = try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: Array(token.utf8))))
        try await submit(
            .joinTokenCreated(JoinTokenCreated(token: JoinToken(tokenSHA256: hash, expiresAt: Timestamp(date: expiresAt)))), by: actor)
        if request.hasAgentID {
            // `token generate -spiffeID X`: the node alias X, parented to the agent the token makes.
            let alias: SPIFFEID
            do {
                alias = try WireMapping.spiffeID(request.agentID, field: "agent ID")
            } catch {
                throw error.rpcError
            }
            guard alias.trustDomain == api.trustDomain else {
                throw RPCError(code: .invalidArgument, message: "invalid agent ID: \"\(alias)\" is not a member of trust domain \"\(api.trustDomain)\"")
            }
            let entry = RegistrationEntry(
                id: try RegistrationEntryID(UUID().uuidString.lowercased()), spiffeID: alias, parentID: agentID,
                selectors: [try Selector(type: "spiffe_id", value: agentID.string)], createdAt: Timestamp(date: now))
            try await submit(.registrationEntryCreated(RegistrationEntryCreated(entry: entry)), by: actor)
        }
        var response = Spire_Api_Types_JoinToken()
        response.value = token
        response.expiresAt = Int64(expiresAt.timeIntervalSince1970)
        return response
    }

    // MARK: - Agent calls

    /// Node attestation: the first message names the attestor and carries its payload and the
    /// CSR for the agent SVID. `join_token` needs no challenge; `x509pop` sends one and reads the
    /// answer from the same stream.
    func attestAgent(
        request: RPCAsyncSequence<Spire_Api_Server_Agent_V1_AttestAgentRequest, any Error>,
        response: RPCWriter<Spire_Api_Server_Agent_V1_AttestAgentResponse>, context: ServerContext
    ) async throws {
        try await api.admit(api.attestationLimiter, cost: 1, context: context)
        var iterator = request.makeAsyncIterator()
        guard let first = try await iterator.next(), case .params(let params) = first.step else {
            throw RPCError(code: .invalidArgument, message: "malformed param: missing params")
        }
        guard params.hasData, !params.data.type.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "malformed param: missing attestation data")
        }
        guard params.hasParams, !params.params.csr.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "malformed param: missing X509-SVID parameters")
        }
        let type = params.data.type
        // Only configured attestors reach the metrics: the type is the caller's text.
        guard type == "join_token" || (type == X509PoP.type && x509pop != nil) else {
            throw RPCError(code: .failedPrecondition, message: "failed to attest: could not find node attestor type \"\(type)\"")
        }
        let csr = Array(params.params.csr)
        let svid: Spire_Api_Types_X509SVID
        let reattestable: Bool
        do {
            if type == X509PoP.type {
                svid = try await attestX509PoP(
                    payload: Array(params.data.payload), csr: csr, answers: &iterator, challenges: response)
                reattestable = true
            } else {
                svid = try await attestJoinToken(String(decoding: params.data.payload, as: UTF8.self), csr: csr)
                reattestable = false
            }
            api.log.metrics.attestation(type: type, succeeded: true)
        } catch {
            api.log.metrics.attestation(type: type, succeeded: false)
            throw error
        }
        var message = Spire_Api_Server_Agent_V1_AttestAgentResponse()
        var result = Spire_Api_Server_Agent_V1_AttestAgentResponse.Result()
        result.svid = svid
        result.reattestable = reattestable
        message.result = result
        try await response.write(message)
    }

    private func attestJoinToken(_ token: String, csr: [UInt8]) async throws -> Spire_Api_Types_X509SVID {
        guard !token.isEmpty, token.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "failed to attest: join token is missing or too long")
        }
        let agentID: SPIFFEID
        do {
            agentID = try SPIFFEID(trustDomain: api.trustDomain, segments: ["spire", "agent", "join_token", token])
        } catch {
            throw RPCError(code: .invalidArgument, message: "failed to attest: join token is not a valid ID path segment: \(error)")
        }
        if api.log.state.agents[agentID]?.banned == true {
            throw RPCError(code: .permissionDenied, message: "failed to attest: agent is banned")
        }
        let hash = try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: Array(token.utf8))))
        do {
            // The compare-and-set on the token is the log's: of concurrent attempts, one applies.
            try await api.log.submit(.joinTokenConsumed(JoinTokenConsumed(tokenSHA256: hash, agentID: agentID)), by: .agent(agentID))
        } catch is IdentityLog.Rejected {
            throw RPCError(code: .permissionDenied, message: "failed to attest: join token does not exist or has already been used")
        }
        return try await issueAgentSVID(agentID, csr: csr, attestation: "join_token", selectors: [], canReattest: false)
    }

    /// The attested agent's SVID, recorded with the attestor's selectors. A banned agent is
    /// refused before anything is signed (the log refuses its `AgentAttested` too).
    func issueAgentSVID(_ agentID: SPIFFEID, csr: [UInt8], attestation: String, selectors: [Selector], canReattest: Bool)
        async throws -> Spire_Api_Types_X509SVID
    {
        if api.log.state.agents[agentID]?.banned == true {
            throw RPCError(code: .permissionDenied, message: "failed to attest: agent is banned")
        }
        let issued = try await issue(csr: csr, for: agentID)
        let serial = try CertificateSerialNumber(bytes: issued.serialNumber.bytes)
        try await submit(
            .agentAttested(AgentAttested(
                agentID: agentID, attestationType: attestation, selectors: selectors, serialNumber: serial,
                notAfter: Timestamp(date: issued.notValidAfter), canReattest: canReattest)),
            by: .agent(agentID))
        return try Self.wireSVID(issued, id: agentID)
    }

    func renewAgent(request: Spire_Api_Server_Agent_V1_RenewAgentRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_RenewAgentResponse
    {
        let agent = try await api.agentCaller()
        guard request.hasParams, !request.params.csr.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "missing CSR")
        }
        let issued = try await issue(csr: Array(request.params.csr), for: agent.spiffeID)
        try await submit(
            .agentRenewed(AgentRenewed(
                agentID: agent.spiffeID, serialNumber: try CertificateSerialNumber(bytes: issued.serialNumber.bytes),
                notAfter: Timestamp(date: issued.notValidAfter))),
            by: .agent(agent.spiffeID))
        var response = Spire_Api_Server_Agent_V1_RenewAgentResponse()
        response.svid = try Self.wireSVID(issued, id: agent.spiffeID)
        return response
    }

    func postStatus(request: Spire_Api_Server_Agent_V1_PostStatusRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Agent_V1_PostStatusResponse
    {
        throw RPCError(code: .unimplemented, message: "PostStatus is not implemented")
    }

    // MARK: - Helpers

    private func issue(csr: [UInt8], for agentID: SPIFFEID) async throws -> SVIDIssuer.IssuedX509 {
        do {
            return try await api.issuer.issueX509(
                csrDER: csr, for: .init(id: agentID, ttl: agentTTL, requestingAgent: agentID), actor: .agent(agentID))
        } catch let error as AuthorityError {
            throw RPCError(code: .invalidArgument, message: "failed to sign X509-SVID: \(error)")
        } catch {
            throw APIError.from(error).rpcError
        }
    }

    static func wireSVID(_ issued: SVIDIssuer.IssuedX509, id: SPIFFEID) throws -> Spire_Api_Types_X509SVID {
        var svid = Spire_Api_Types_X509SVID()
        svid.certChain = issued.chainDER.map { Data($0) }
        svid.id = WireMapping.wire(id)
        svid.expiresAt = Int64(issued.notValidAfter.timeIntervalSince1970)
        return svid
    }

    private func submit(_ event: Event, by actor: Actor) async throws {
        do {
            try await api.log.submit(event, by: actor)
        } catch {
            throw APIError.from(error).rpcError
        }
    }

    private func agent(_ wire: Spire_Api_Types_SPIFFEID) throws -> AgentRecord {
        let id: SPIFFEID
        do {
            id = try WireMapping.spiffeID(wire, field: "agent ID")
        } catch {
            throw error.rpcError
        }
        guard let agent = api.log.state.agents[id] else { throw RPCError(code: .notFound, message: "agent not found") }
        return agent
    }

    private func filtered(_ filter: Spire_Api_Server_Agent_V1_AgentFilter?) throws -> [AgentRecord] {
        var agents = Array(api.log.state.agents.values)
        if let filter {
            if !filter.byAttestationType.isEmpty { agents = agents.filter { $0.attestationType == filter.byAttestationType } }
            if filter.hasByBanned { agents = agents.filter { $0.banned == filter.byBanned.value } }
            if filter.hasByCanReattest { agents = agents.filter { $0.canReattest == filter.byCanReattest.value } }
            if filter.hasBySelectorMatch {
                var wanted: [Selector] = []
                for selector in filter.bySelectorMatch.selectors {
                    do {
                        wanted.append(try WireMapping.selector(selector))
                    } catch {
                        throw error.rpcError
                    }
                }
                let set = Set(wanted)
                agents = agents.filter { agent in
                    let have = Set(agent.selectors)
                    switch filter.bySelectorMatch.match {
                    case .matchSubset: return have.isSubset(of: set)
                    case .matchSuperset: return have.isSuperset(of: set)
                    case .matchAny: return !have.isDisjoint(with: set)
                    default: return have == set
                    }
                }
            }
        }
        return agents.sorted { $0.spiffeID.string < $1.spiffeID.string }
    }
}
