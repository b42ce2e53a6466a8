import GRPCCore

/// Why the Workload API or SDS refused a call, with the gRPC status a client sees
/// (SPIFFE-WIRE §1.3 and §3.2; SPIRE's messages where clients or people may match on them).
public struct WorkloadEndpointError: Error, Hashable, Sendable, RPCErrorConvertible, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// No `workload.spiffe.io: true` header: InvalidArgument, clients do not retry.
        case securityHeaderMissing
        /// The caller's process could not be attested: Unavailable.
        case attestationFailed
        /// The caller has no identity: PermissionDenied.
        case noIdentity
        /// A required field is missing or malformed: InvalidArgument.
        case invalidArgument
        /// A JWT-SVID failed validation: InvalidArgument.
        case invalidToken
        /// The agent cannot serve the call now (shutting down, minting failed): Unavailable.
        case unavailable
        /// A bound was hit (streams, queued requests, response size): ResourceExhausted.
        case exhausted
        /// The RPC is not offered: Unimplemented.
        case unimplemented
        /// A response could not be built from the agent's own state: Internal.
        case `internal`
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public static let securityHeaderMissing = WorkloadEndpointError(.securityHeaderMissing, "security header missing from request")
    public static let noIdentityIssued = WorkloadEndpointError(.noIdentity, "no identity issued")
    public static let shuttingDown = WorkloadEndpointError(.unavailable, "the agent is shutting down")

    public var description: String { "\(code): \(reason)" }

    public var rpcErrorCode: RPCError.Code {
        switch code {
        case .securityHeaderMissing, .invalidArgument, .invalidToken: .invalidArgument
        case .attestationFailed, .unavailable: .unavailable
        case .noIdentity: .permissionDenied
        case .exhausted: .resourceExhausted
        case .unimplemented: .unimplemented
        case .internal: .internalError
        }
    }

    public var rpcErrorMessage: String { reason }
}

extension WorkloadEndpointError {
    init(_ error: IdentityProviderError) {
        switch error.code {
        case .unavailable: self.init(.unavailable, error.reason)
        case .exhausted: self.init(.exhausted, error.reason)
        case .notEntitled: self.init(.noIdentity, error.reason)
        }
    }
}
