import GRPCCore
import SwiftProtobuf
import Synchronization
import Wire

/// The standard `grpc.health.v1.Health` service (grpc/grpc-proto health.proto), served by the
/// server on both listeners and by the agent on its Unix socket.
///
/// Statuses are kept per service name; "" is the whole process. `Check` of an unknown name is
/// NotFound, `Watch` of an unknown name reports SERVICE_UNKNOWN and keeps watching, as the
/// protocol says. Each watcher holds only the newest status, so a slow watcher costs one slot.
public final class HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol, Sendable {
    public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    public enum Limits {
        public static let watchersMax = 1024
        public static let serviceNameBytesMax = 512
    }

    private struct State {
        var statuses: [String: ServingStatus] = ["": .serving]
        var watchers: [UInt64: (service: String, continuation: AsyncStream<ServingStatus>.Continuation)] = [:]
        var nextWatcher: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Sets a service's status and tells its watchers.
    public func setStatus(_ status: ServingStatus, for service: String = "") {
        state.withLock { state in
            state.statuses[service] = status
            for watcher in state.watchers.values where watcher.service == service {
                watcher.continuation.yield(status)
            }
        }
    }

    /// Marks everything NOT_SERVING (graceful shutdown) so load balancers stop sending work.
    public func enterShutdown() {
        state.withLock { state in
            for service in state.statuses.keys {
                state.statuses[service] = .notServing
            }
            for watcher in state.watchers.values { watcher.continuation.yield(.notServing) }
        }
    }

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = state.withLock({ $0.statuses[request.service] }) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(request.service.prefix(Limits.serviceNameBytesMax))\"")
        }
        return .with { $0.status = status }
    }

    public func list(
        request: Grpc_Health_V1_HealthListRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthListResponse {
        let statuses = state.withLock { $0.statuses }
        return .with { response in
            for (name, status) in statuses { response.statuses[name] = .with { $0.status = status } }
        }
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        guard request.service.utf8.count <= Limits.serviceNameBytesMax else {
            throw RPCError(code: .invalidArgument, message: "service name is too long")
        }
        let (updates, continuation) = AsyncStream.makeStream(of: ServingStatus.self, bufferingPolicy: .bufferingNewest(1))
        let registered = state.withLock { state -> UInt64? in
            guard state.watchers.count < Limits.watchersMax else { return nil }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (request.service, continuation)
            continuation.yield(state.statuses[request.service] ?? .serviceUnknown)
            return id
        }
        guard let id = registered else {
            throw RPCError(code: .resourceExhausted, message: "too many health watchers")
        }
        defer { _ = state.withLock { $0.watchers.removeValue(forKey: id) } }
        // gRPC reports a client that went away through the RPC's cancellation handler, not
        // by cancelling this task: finishing the stream ends the loop.
        try await withRPCCancellationHandler {
            var last: ServingStatus?
            for await status in updates where status != last {
                try await response.write(.with { $0.status = status })
                last = status
            }
        } onCancelRPC: {
            continuation.finish()
        }
    }
}
