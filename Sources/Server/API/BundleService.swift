import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import Wire

/// SPIRE's `spire.api.server.bundle.v1.Bundle`: the own trust bundle (the union of every
/// server's live authorities) for anyone, federated bundles set by hand for admins.
struct BundleService: Spire_Api_Server_Bundle_V1_Bundle.SimpleServiceProtocol {
    let api: ServerAPI
    static let batchMax = 100

    func getBundle(request: Spire_Api_Server_Bundle_V1_GetBundleRequest, context: ServerContext) async throws -> Spire_Api_Types_Bundle {
        // An operator's read is current (ReadIndex on a cluster); an agent's or workload's is
        // served from this server's state, like its entries (see docs/ha.md).
        if (try? api.requireAdmin()) != nil { try await api.currentRead() }
        return WireMapping.wire(api.log.state.ownBundle, trustDomain: api.trustDomain)
    }

    func countBundles(request: Spire_Api_Server_Bundle_V1_CountBundlesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_CountBundlesResponse
    {
        _ = try await api.adminRead()
        var response = Spire_Api_Server_Bundle_V1_CountBundlesResponse()
        response.count = Int32(api.log.state.federatedBundles.count + 1)
        return response
    }

    func appendBundle(request: Spire_Api_Server_Bundle_V1_AppendBundleRequest, context: ServerContext) async throws -> Spire_Api_Types_Bundle {
        throw RPCError(code: .unimplemented, message: "the own bundle is made of the servers' authorities; append is not supported")
    }

    func publishJWTAuthority(request: Spire_Api_Server_Bundle_V1_PublishJWTAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_PublishJWTAuthorityResponse
    {
        throw RPCError(code: .unimplemented, message: "nested tiers (downstream JWT authorities) are not implemented yet")
    }

    func listFederatedBundles(request: Spire_Api_Server_Bundle_V1_ListFederatedBundlesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_ListFederatedBundlesResponse
    {
        _ = try await api.adminRead()
        var bundles = api.log.state.federatedBundles.values.sorted { $0.trustDomain.name < $1.trustDomain.name }
        if !request.pageToken.isEmpty { bundles = bundles.filter { $0.trustDomain.name > request.pageToken } }
        let pageSize = request.pageSize <= 0 ? bundles.count : min(Int(request.pageSize), 1_000)
        var response = Spire_Api_Server_Bundle_V1_ListFederatedBundlesResponse()
        let page = bundles.prefix(pageSize)
        response.bundles = page.map(WireMapping.wire)
        if request.pageSize > 0, bundles.count > pageSize, let last = page.last { response.nextPageToken = last.trustDomain.name }
        return response
    }

    func getFederatedBundle(request: Spire_Api_Server_Bundle_V1_GetFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Types_Bundle
    {
        _ = try await api.adminRead()
        guard let domain = try? TrustDomain(parsing: request.trustDomain) else {
            throw RPCError(code: .invalidArgument, message: "trust domain argument is not valid: \"\(request.trustDomain)\"")
        }
        guard let bundle = api.log.state.federatedBundles[domain] else { throw RPCError(code: .notFound, message: "bundle not found") }
        return WireMapping.wire(bundle)
    }

    func batchCreateFederatedBundle(request: Spire_Api_Server_Bundle_V1_BatchCreateFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse
    {
        try await set(request.bundle, mustExist: false)
    }

    func batchUpdateFederatedBundle(request: Spire_Api_Server_Bundle_V1_BatchUpdateFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse
    {
        try await set(request.bundle, mustExist: true)
    }

    func batchSetFederatedBundle(request: Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse
    {
        try await set(request.bundle, mustExist: nil)
    }

    /// `mustExist`: true for update, false for create, nil for set (either).
    private func set(_ bundles: [Spire_Api_Types_Bundle], mustExist: Bool?) async throws -> Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse {
        let actor = try api.adminCaller()
        guard bundles.count <= Self.batchMax else { throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) bundles per batch") }
        var response = Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse()
        for wire in bundles {
            var result = Spire_Api_Server_Bundle_V1_BatchFederatedBundleResponse.Result()
            do {
                let bundle = try WireMapping.federatedBundle(wire)
                guard bundle.trustDomain != api.trustDomain else {
                    throw APIError(.invalidArgument, "creating a federated bundle for the server's own trust domain is not allowed")
                }
                let exists = api.log.state.federatedBundles[bundle.trustDomain] != nil
                if mustExist == true && !exists { throw APIError(.notFound, "bundle not found") }
                if mustExist == false && exists { throw APIError(.alreadyExists, "bundle already exists") }
                try await api.log.submit(.federatedBundleSet(FederatedBundleSet(bundle: bundle)), by: actor)
                result.status = APIError.ok
                result.bundle = WireMapping.wire(bundle)
            } catch {
                result.status = APIError.from(error).status
            }
            response.results.append(result)
        }
        return response
    }

    func batchDeleteFederatedBundle(request: Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse
    {
        let actor = try api.adminCaller()
        guard request.trustDomains.count <= Self.batchMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) bundles per batch")
        }
        var response = Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse()
        for name in request.trustDomains {
            var result = Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleResponse.Result()
            result.trustDomain = name
            do {
                guard let domain = try? TrustDomain(parsing: name) else { throw APIError(.invalidArgument, "malformed trust domain \"\(name)\"") }
                let state = api.log.state
                guard state.federatedBundles[domain] != nil else { throw APIError(.notFound, "no such bundle") }
                // SPIRE's default RESTRICT mode: refuse while entries federate with it.
                if request.mode == .restrict, state.entries.values.contains(where: { $0.federatesWith.contains(domain) }) {
                    throw APIError(.failedPrecondition, "cannot delete bundle; federated with \(domain) by at least one registration entry")
                }
                try await api.log.submit(.federatedBundleDeleted(FederatedBundleDeleted(trustDomain: domain)), by: actor)
                result.status = APIError.ok
            } catch {
                result.status = APIError.from(error).status
            }
            response.results.append(result)
        }
        return response
    }
}
