import Authority
import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import SwiftASN1
import Wire
import X509

/// SPIRE's `spire.api.server.svid.v1.SVID`: agents get SVIDs for the entries they are
/// authorized for (the SPIFFE ID comes from the entry, never the CSR); admins mint.
struct SVIDService: Spire_Api_Server_Svid_V1_SVID.SimpleServiceProtocol {
    let api: ServerAPI
    static let batchMax = 500

    func batchNewX509SVID(request: Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse
    {
        let agent = try await api.agentCaller()
        guard request.params.count <= Self.batchMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) SVIDs per batch")
        }
        try await api.admit(api.signingLimiter, cost: request.params.count, context: context)
        let authorized = Dictionary(
            api.log.state.authorizedEntries(for: agent.spiffeID).map { ($0.id.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
        // Signed concurrently: each signing is its own event, and the log commits them together.
        let results = await withTaskGroup(of: (Int, Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse.Result).self) { group in
            for (position, params) in request.params.enumerated() {
                group.addTask {
                    var result = Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse.Result()
                    do {
                        guard !params.entryID.isEmpty else { throw APIError(.invalidArgument, "missing entry ID") }
                        guard let entry = authorized[params.entryID] else {
                            throw APIError(.notFound, "entry \(params.entryID) not found or not authorized for \(agent.spiffeID)")
                        }
                        guard !params.csr.isEmpty else { throw APIError(.invalidArgument, "missing CSR") }
                        let issued = try await sign(csr: Array(params.csr), entry: entry, agent: agent.spiffeID)
                        result.status = APIError.ok
                        result.svid = try AgentService.wireSVID(issued, id: entry.spiffeID)
                    } catch let error as AuthorityError {
                        result.status = APIError(.invalidArgument, "failed to sign X509-SVID: \(error)").status
                    } catch {
                        result.status = APIError.from(error).status
                    }
                    return (position, result)
                }
            }
            var ordered = [Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse.Result?](repeating: nil, count: request.params.count)
            for await (position, result) in group { ordered[position] = result }
            return ordered.compactMap { $0 }
        }
        var response = Spire_Api_Server_Svid_V1_BatchNewX509SVIDResponse()
        response.results = results
        return response
    }

    private func sign(csr: [UInt8], entry: RegistrationEntry, agent: SPIFFEID) async throws -> SVIDIssuer.IssuedX509 {
        try await api.issuer.issueX509(
            csrDER: csr,
            for: .init(
                id: entry.spiffeID, dnsNames: entry.dnsNames,
                ttl: entry.x509SVIDTTLSeconds > 0 ? .seconds(Int64(entry.x509SVIDTTLSeconds)) : nil,
                entryID: entry.id, requestingAgent: agent),
            actor: .agent(agent))
    }

    func newJWTSVID(request: Spire_Api_Server_Svid_V1_NewJWTSVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_NewJWTSVIDResponse
    {
        let agent = try await api.agentCaller()
        try await api.admit(api.signingLimiter, cost: 1, context: context)
        guard let entry = api.log.state.authorizedEntries(for: agent.spiffeID).first(where: { $0.id.rawValue == request.entryID }) else {
            throw RPCError(code: .notFound, message: "entry \(request.entryID) not found or not authorized")
        }
        var response = Spire_Api_Server_Svid_V1_NewJWTSVIDResponse()
        response.svid = try await jwt(
            .init(id: entry.spiffeID, ttl: entry.jwtSVIDTTLSeconds > 0 ? .seconds(Int64(entry.jwtSVIDTTLSeconds)) : nil,
                  entryID: entry.id, requestingAgent: agent.spiffeID),
            audience: request.audience, actor: .agent(agent.spiffeID))
        return response
    }

    func mintX509SVID(request: Spire_Api_Server_Svid_V1_MintX509SVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_MintX509SVIDResponse
    {
        let actor = try api.adminCaller()
        guard request.ttl >= 0 else { throw RPCError(code: .invalidArgument, message: "ttl must not be negative") }
        // Admin minting takes the ID from the CSR's URI SAN, as SPIRE's MintX509SVID does.
        let csr: CertificateSigningRequest
        do {
            csr = try CertificateSigningRequest(derEncoded: Array(request.csr))
        } catch {
            throw RPCError(code: .invalidArgument, message: "malformed CSR: \(error)")
        }
        let uris = (try? csr.attributes.extensionRequest?.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .uniformResourceIdentifier(let uri) = name { uri } else { nil }
        } ?? []
        guard uris.count == 1, let id = try? SPIFFEID(parsing: uris[0]) else {
            throw RPCError(code: .invalidArgument, message: "CSR must have exactly one URI SAN holding a SPIFFE ID")
        }
        guard id.trustDomain == api.trustDomain, !id.path.isEmpty else {
            throw RPCError(code: .invalidArgument, message: "invalid SPIFFE ID in CSR: \"\(id)\" is not a workload ID of \"\(api.trustDomain)\"")
        }
        let dnsNames = (try? csr.attributes.extensionRequest?.extensions.subjectAlternativeNames)??.compactMap { name -> String? in
            if case .dnsName(let dns) = name { dns } else { nil }
        } ?? []
        let issued: SVIDIssuer.IssuedX509
        do {
            issued = try await api.issuer.issueX509(
                csrDER: Array(request.csr),
                for: .init(id: id, dnsNames: dnsNames, ttl: request.ttl > 0 ? .seconds(Int64(request.ttl)) : nil), actor: actor)
        } catch let error as AuthorityError {
            throw RPCError(code: .invalidArgument, message: "failed to sign X509-SVID: \(error)")
        }
        var response = Spire_Api_Server_Svid_V1_MintX509SVIDResponse()
        response.svid = try AgentService.wireSVID(issued, id: id)
        return response
    }

    func mintJWTSVID(request: Spire_Api_Server_Svid_V1_MintJWTSVIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_MintJWTSVIDResponse
    {
        let actor = try api.adminCaller()
        let id: SPIFFEID
        do {
            id = try WireMapping.spiffeID(request.id, field: "SPIFFE ID")
        } catch {
            throw error.rpcError
        }
        guard id.trustDomain == api.trustDomain else {
            throw RPCError(code: .invalidArgument, message: "invalid SPIFFE ID: \"\(id)\" is not a member of trust domain \"\(api.trustDomain)\"")
        }
        var response = Spire_Api_Server_Svid_V1_MintJWTSVIDResponse()
        response.svid = try await jwt(.init(id: id, ttl: request.ttl > 0 ? .seconds(Int64(request.ttl)) : nil), audience: request.audience, actor: actor)
        return response
    }

    func newDownstreamX509CA(request: Spire_Api_Server_Svid_V1_NewDownstreamX509CARequest, context: ServerContext) async throws
        -> Spire_Api_Server_Svid_V1_NewDownstreamX509CAResponse
    {
        throw RPCError(code: .unimplemented, message: "nested tiers (downstream CAs) are not implemented yet")
    }

    private func jwt(_ subject: SVIDIssuer.Subject, audience: [String], actor: Actor) async throws -> Spire_Api_Types_JWTSVID {
        guard !audience.isEmpty else { throw RPCError(code: .invalidArgument, message: "at least one audience is required") }
        guard audience.count <= 32, audience.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 1024 }) else {
            throw RPCError(code: .invalidArgument, message: "audiences must be 1–32 non-empty values of at most 1024 bytes")
        }
        let issued: (token: String, expiresAt: Date)
        do {
            issued = try await api.issuer.issueJWT(for: subject, audience: audience, actor: actor)
        } catch {
            throw APIError.from(error).rpcError
        }
        var svid = Spire_Api_Types_JWTSVID()
        svid.token = issued.token
        svid.id = WireMapping.wire(subject.id)
        svid.expiresAt = Int64(issued.expiresAt.timeIntervalSince1970)
        svid.issuedAt = Int64(Date().timeIntervalSince1970)
        return svid
    }
}
