import GRPCCore
import Wire

/// Requires the Workload API's anti-SSRF header (SPIFFE-WIRE §1.2, RELIABILITY.md SPI-01-008):
/// exactly one `workload.spiffe.io` value, equal to `"true"`, on `/SpiffeWorkloadAPI/` methods
/// only. SDS, health and anything else on the socket are exempt (Envoy never sends it).
public struct SecurityHeaderInterceptor: ServerInterceptor {
    public static let headerName = "workload.spiffe.io"

    public init() {}

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if context.descriptor.service == WorkloadAPI_SpiffeWorkloadAPI.descriptor {
            let values = Array(request.metadata[stringValues: Self.headerName])
            guard values == ["true"] else { throw WorkloadEndpointError.securityHeaderMissing }
        }
        return try await next(request, context)
    }
}
