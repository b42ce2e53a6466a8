import Foundation
import GRPCCore
import IdentityModel
import Projections
import Wire

/// SPIRE's `spire.api.server.localauthority.v1.LocalAuthority`: this server's authorities,
/// moved by hand (`lineage-server localauthority x509|jwt prepare|activate|taint|revoke`).
struct LocalAuthorityService: Spire_Api_Server_Localauthority_V1_LocalAuthority.SimpleServiceProtocol {
    typealias State = Spire_Api_Server_Localauthority_V1_AuthorityState
    let api: ServerAPI

    private enum Kind { case x509, jwt }

    private typealias Summary = (id: String, phase: AuthorityPhase, expires: Int64, revoked: Bool, upstream: String)

    private func states(_ kind: Kind) -> [Summary] {
        let state = api.log.state
        let server = api.log.nodeName
        switch kind {
        case .x509:
            return state.x509Authorities.values.filter { $0.reference.serverNodeName == server }.map {
                ($0.reference.authorityID.rawValue, $0.phase, $0.descriptor.notAfter.millisecondsSinceEpoch / 1000, $0.revoked,
                 $0.descriptor.upstreamAuthorityID?.rawValue ?? "")
            }
        case .jwt:
            return state.jwtAuthorities.values.filter { $0.reference.serverNodeName == server }.map {
                ($0.reference.authorityID.rawValue, $0.phase, $0.descriptor.notAfter.millisecondsSinceEpoch / 1000, $0.revoked, "")
            }
        }
    }

    private func state(_ kind: Kind, id: String) -> State? {
        states(kind).first { $0.id == id }.map(Self.wire)
    }

    private static func wire(_ summary: Summary) -> State {
        var state = State()
        state.authorityID = summary.id
        state.expiresAt = summary.expires
        state.upstreamAuthoritySubjectKeyID = summary.upstream
        return state
    }

    private func get(_ kind: Kind) throws -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse {
        _ = try api.adminCaller()
        var response = Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse()
        let all = states(kind).filter { !$0.revoked }
        if let active = all.first(where: { $0.phase == .active }) { response.active = Self.wire(active) }
        if let prepared = all.filter({ $0.phase == .prepared }).max(by: { $0.expires < $1.expires }) {
            response.prepared = Self.wire(prepared)
        }
        if let old = all.filter({ $0.phase == .old }).max(by: { $0.expires < $1.expires }) { response.old = Self.wire(old) }
        return response
    }

    private func authorityID(_ raw: String) throws -> AuthorityID {
        guard !raw.isEmpty else { throw RPCError(code: .invalidArgument, message: "no authority ID provided") }
        do {
            return try AuthorityID(raw)
        } catch {
            throw RPCError(code: .invalidArgument, message: "invalid authority ID \"\(raw)\": \(error)")
        }
    }

    /// Runs a CA operation for an admin and returns the state of the authority it touched.
    private func perform(_ kind: Kind, _ operation: () async throws -> AuthorityID) async throws -> State? {
        _ = try api.adminCaller()
        let id: AuthorityID
        do {
            id = try await operation()
        } catch {
            throw APIError.from(error).rpcError
        }
        return state(kind, id: id.rawValue)
    }

    /// `perform` for a transition of the authority the request names.
    private func transition(
        _ kind: Kind, _ rawID: String, _ move: @escaping (CAManager) -> (AuthorityID) async throws -> Void
    ) async throws -> State? {
        let id = try authorityID(rawID)
        return try await perform(kind) {
            try await move(api.ca)(id)
            return id
        }
    }

    func getJWTAuthorityState(request: Spire_Api_Server_Localauthority_V1_GetAuthorityStateRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse {
        _ = try await api.adminRead()
        return try get(.jwt)
    }

    func getX509AuthorityState(request: Spire_Api_Server_Localauthority_V1_GetAuthorityStateRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse {
        _ = try await api.adminRead()
        return try get(.x509)
    }

    func prepareJWTAuthority(request: Spire_Api_Server_Localauthority_V1_PrepareAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse()
        if let state = try await perform(.jwt, { try await api.ca.prepareJWT().authorityID }) { response.preparedAuthority = state }
        return response
    }

    func prepareX509Authority(request: Spire_Api_Server_Localauthority_V1_PrepareAuthorityRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse()
        if let state = try await perform(.x509, { try await api.ca.prepareX509().authorityID }) { response.preparedAuthority = state }
        return response
    }

    func activateJWTAuthority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse()
        if let state = try await transition(.jwt, request.authorityID, CAManager.activateJWT) { response.activatedAuthority = state }
        return response
    }

    func activateX509Authority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse()
        if let state = try await transition(.x509, request.authorityID, CAManager.activateX509) { response.activatedAuthority = state }
        return response
    }

    func taintJWTAuthority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse()
        if let state = try await transition(.jwt, request.authorityID, CAManager.taintJWT) { response.taintedAuthority = state }
        return response
    }

    func taintX509Authority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse()
        if let state = try await transition(.x509, request.authorityID, CAManager.taintX509) { response.taintedAuthority = state }
        return response
    }

    func revokeJWTAuthority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse()
        if let state = try await transition(.jwt, request.authorityID, CAManager.revokeJWT) { response.revokedAuthority = state }
        return response
    }

    func revokeX509Authority(request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    {
        var response = Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse()
        if let state = try await transition(.x509, request.authorityID, CAManager.revokeX509) { response.revokedAuthority = state }
        return response
    }
}
