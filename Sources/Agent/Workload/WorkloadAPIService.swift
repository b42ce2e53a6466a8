import Foundation
import GRPCCore
import SPIFFE
import SwiftProtobuf
import Wire

/// The SPIFFE Workload API (`/SpiffeWorkloadAPI/*`) exactly as SPIFFE-WIRE §1 describes it.
///
/// The security header is checked by `SecurityHeaderInterceptor` before a handler runs. Each
/// handler attests its caller once (Unavailable on failure), then answers from the provider:
/// - the three watch streams send the full state at once and again after every change, and end
///   with PermissionDenied once the caller has no identity; the bundle streams skip a message
///   equal to the previous one;
/// - FetchJWTSVID mints through the provider; ValidateJWTSVID checks against the own and
///   federated JWT bundles; the WIT RPCs are Unimplemented.
public struct WorkloadAPIService: WorkloadAPI_SpiffeWorkloadAPI.ServiceProtocol {
    let provider: any WorkloadIdentityProvider
    let attestor: WorkloadCallerAttestor
    let streams: OpenStreams
    let now: @Sendable () -> Date

    public init(
        provider: any WorkloadIdentityProvider, attestor: WorkloadCallerAttestor, streams: OpenStreams,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.provider = provider
        self.attestor = attestor
        self.streams = streams
        self.now = now
    }

    // MARK: - Streams

    public func fetchX509SVID(
        request: ServerRequest<WorkloadAPI_X509SVIDRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<WorkloadAPI_X509SVIDResponse> {
        let selectors = try attestor.selectors(for: request.metadata)
        return StreamingServerResponse { writer in
            try await watch(selectors: selectors, writer: writer, skipRepeats: false) { state throws(WorkloadEndpointError) in
                try WorkloadAPIResponses.x509SVIDResponse(state)
            }
            return [:]
        }
    }

    public func fetchX509Bundles(
        request: ServerRequest<WorkloadAPI_X509BundlesRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<WorkloadAPI_X509BundlesResponse> {
        let selectors = try attestor.selectors(for: request.metadata)
        return StreamingServerResponse { writer in
            try await watch(selectors: selectors, writer: writer, skipRepeats: true) { state throws(WorkloadEndpointError) in
                try WorkloadAPIResponses.x509BundlesResponse(state)
            }
            return [:]
        }
    }

    public func fetchJWTBundles(
        request: ServerRequest<WorkloadAPI_JWTBundlesRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<WorkloadAPI_JWTBundlesResponse> {
        let selectors = try attestor.selectors(for: request.metadata)
        return StreamingServerResponse { writer in
            try await watch(selectors: selectors, writer: writer, skipRepeats: true) { state throws(WorkloadEndpointError) in
                try WorkloadAPIResponses.jwtBundlesResponse(state)
            }
            return [:]
        }
    }

    /// Sends `compose(state)` now and after every provider change until the client goes away
    /// (returns), the caller loses its identities (PermissionDenied) or the endpoint shuts down
    /// (Unavailable). The subscription is made before the first read, so no change is missed.
    private func watch<Response: SwiftProtobuf.Message & Equatable>(
        selectors: Set<WorkloadSelector>, writer: RPCWriter<Response>, skipRepeats: Bool,
        compose: (WorkloadIdentities) throws(WorkloadEndpointError) -> Response
    ) async throws {
        let changes: IdentityChanges
        do {
            changes = try provider.changes()
        } catch {
            throw WorkloadEndpointError(error)
        }
        defer { changes.finish() }
        try await streams.withStream(end: { changes.finish() }) {
            try await withRPCCancellationHandler {
                var iterator = changes.makeAsyncIterator()
                var previous: Response?
                repeat {
                    let state = provider.identities(for: selectors)
                    guard !state.servedIdentities.isEmpty else { throw WorkloadEndpointError.noIdentityIssued }
                    let response = try compose(state)
                    if !(skipRepeats && response == previous) {
                        try WorkloadAPIResponses.checkSize(response)
                        try await writer.write(response)
                        previous = response
                    }
                } while await iterator.next() != nil
            } onCancelRPC: {
                changes.finish()
            }
        }
        if streams.isShutDown { throw WorkloadEndpointError.shuttingDown }
    }

    // MARK: - JWT

    public func fetchJWTSVID(
        request: ServerRequest<WorkloadAPI_JWTSVIDRequest>, context: ServerContext
    ) async throws -> ServerResponse<WorkloadAPI_JWTSVIDResponse> {
        let message = request.message
        guard !message.audience.isEmpty else {
            throw WorkloadEndpointError(.invalidArgument, "audience must be specified")
        }
        guard message.audience.count <= Limits.jwtAudiencesMax,
            message.audience.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Limits.jwtAudienceBytesMax })
        else {
            throw WorkloadEndpointError(
                .invalidArgument,
                "audience must hold 1…\(Limits.jwtAudiencesMax) non-empty values of at most \(Limits.jwtAudienceBytesMax) bytes")
        }
        var wanted: SPIFFEID?
        if !message.spiffeID.isEmpty {
            do {
                wanted = try SPIFFEID(parsing: message.spiffeID)
            } catch {
                throw WorkloadEndpointError(.invalidArgument, "invalid requested SPIFFE ID: \(error)")
            }
        }
        let selectors = try attestor.selectors(for: request.metadata)
        let identities = provider.identities(for: selectors).servedIdentities.filter { wanted == nil || $0.spiffeID == wanted }
        guard !identities.isEmpty else { throw WorkloadEndpointError.noIdentityIssued }
        var response = WorkloadAPI_JWTSVIDResponse()
        for identity in identities {
            let token: String
            do {
                token = try await provider.jwtSVID(
                    entryID: identity.entryID, spiffeID: identity.spiffeID, audience: message.audience)
            } catch {
                // Minting failures are Unavailable (SPIRE); an entry gone meanwhile is PermissionDenied.
                throw WorkloadEndpointError(WorkloadEndpointError(error).code, "could not fetch JWT-SVID: \(error.reason)")
            }
            var svid = WorkloadAPI_JWTSVID()
            svid.spiffeID = identity.spiffeID.string
            svid.svid = token
            svid.hint = identity.hint
            response.svids.append(svid)
        }
        try WorkloadAPIResponses.checkSize(response)
        return ServerResponse(message: response)
    }

    public func validateJWTSVID(
        request: ServerRequest<WorkloadAPI_ValidateJWTSVIDRequest>, context: ServerContext
    ) async throws -> ServerResponse<WorkloadAPI_ValidateJWTSVIDResponse> {
        let message = request.message
        guard !message.audience.isEmpty else { throw WorkloadEndpointError(.invalidArgument, "audience must be specified") }
        guard !message.svid.isEmpty else { throw WorkloadEndpointError(.invalidArgument, "svid must be specified") }
        let selectors = try attestor.selectors(for: request.metadata)
        let state = provider.identities(for: selectors)
        let svid: JWTSVID
        do {
            svid = try JWTSVID(
                parsing: message.svid, bundles: JWTBundleList(WorkloadAPIResponses.jwtBundles(state)),
                audience: message.audience, at: now())
        } catch {
            throw WorkloadEndpointError(.invalidToken, "invalid JWT-SVID: \(error)")
        }
        var response = WorkloadAPI_ValidateJWTSVIDResponse()
        response.spiffeID = svid.id.string
        response.claims = WorkloadAPIResponses.claims(of: svid, ownTrustDomain: state.trustDomain)
        return ServerResponse(message: response)
    }

    // MARK: - WIT (optional profile, not offered)

    public func fetchWITSVID(
        request: ServerRequest<WorkloadAPI_WITSVIDRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<WorkloadAPI_WITSVIDResponse> {
        throw WorkloadEndpointError(.unimplemented, "WIT-SVIDs are not supported")
    }

    public func fetchWITBundles(
        request: ServerRequest<WorkloadAPI_WITBundlesRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<WorkloadAPI_WITBundlesResponse> {
        throw WorkloadEndpointError(.unimplemented, "WIT bundles are not supported")
    }
}

/// JWT bundles of several trust domains as one `JWTBundleSource`.
struct JWTBundleList: JWTBundleSource {
    let bundles: [TrustDomain: JWTBundle]

    init(_ bundles: [JWTBundle]) {
        self.bundles = Dictionary(bundles.map { ($0.trustDomain, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func jwtBundle(for trustDomain: TrustDomain) -> JWTBundle? { bundles[trustDomain] }
}
