import Config
import GRPCCore
import Synchronization
import Wire

/// Envoy's Secret Discovery Service v3 as the SPIRE agent serves it (SPIFFE-WIRE §3): on the
/// same socket as the Workload API, without the security header. StreamSecrets follows
/// `SDSStreamState`; FetchSecrets answers once with version "" and no nonce; DeltaSecrets is
/// Unimplemented.
public struct SDSService: Envoy_Service_Secret_V3_SecretDiscoveryService.ServiceProtocol {
    let provider: any WorkloadIdentityProvider
    let attestor: WorkloadCallerAttestor
    let streams: OpenStreams
    let builder: SDSResponseBuilder

    public init(
        provider: any WorkloadIdentityProvider, attestor: WorkloadCallerAttestor, streams: OpenStreams,
        names: AgentConfig.SDS = AgentConfig.SDS()
    ) {
        self.provider = provider
        self.attestor = attestor
        self.streams = streams
        self.builder = SDSResponseBuilder(names: names)
    }

    public func streamSecrets(
        request: StreamingServerRequest<Envoy_Service_Discovery_V3_DiscoveryRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DiscoveryResponse> {
        let selectors = try attestor.selectors(for: request.metadata)
        return StreamingServerResponse { writer in
            let changes: IdentityChanges
            do throws(IdentityProviderError) {
                changes = try provider.changes()
            } catch {
                throw WorkloadEndpointError(error)
            }
            defer { changes.finish() }
            let inbox = SDSInbox()
            try await streams.withStream(end: { inbox.close(); changes.finish() }) {
                try await withRPCCancellationHandler {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            // A client that resets the stream simply ends it; a full queue fails it.
                            do {
                                for try await message in request.messages { try inbox.push(message) }
                            } catch let error as WorkloadEndpointError {
                                inbox.fail(error)
                            } catch {}
                            inbox.close()
                        }
                        group.addTask {
                            for await _ in changes { inbox.markChanged() }
                        }
                        try await serve(inbox: inbox, selectors: selectors, writer: writer)
                        group.cancelAll()
                    }
                } onCancelRPC: {
                    inbox.close()
                    changes.finish()
                }
            }
            if streams.isShutDown { throw WorkloadEndpointError.shuttingDown }
            return [:]
        }
    }

    /// The stream's only writer: takes queued requests and change signals in order and sends
    /// at most one response per wake-up, always built from the provider's current state.
    private func serve(
        inbox: SDSInbox, selectors: Set<WorkloadSelector>, writer: RPCWriter<Envoy_Service_Discovery_V3_DiscoveryResponse>
    ) async throws {
        var stream = SDSStreamState()
        for await _ in inbox.wakeups {
            let pending = inbox.drain()
            if let failure = pending.failure { throw failure }
            var due = false
            for request in pending.requests where stream.receive(request) { due = true }
            if pending.changed && stream.providerChanged() { due = true }
            if due, let request = stream.lastRequest {
                let nonce = SDSStreamState.makeNonce()
                let response = try builder.response(
                    to: request, node: stream.node, state: provider.identities(for: selectors),
                    versionInfo: String(stream.version), nonce: nonce)
                try await writer.write(response)
                stream.sent(nonce: nonce)
            }
            if pending.closed { return }
        }
    }

    public func fetchSecrets(
        request: ServerRequest<Envoy_Service_Discovery_V3_DiscoveryRequest>, context: ServerContext
    ) async throws -> ServerResponse<Envoy_Service_Discovery_V3_DiscoveryResponse> {
        let selectors = try attestor.selectors(for: request.metadata)
        let message = request.message
        let response = try builder.response(
            to: message, node: message.hasNode ? message.node : nil, state: provider.identities(for: selectors),
            versionInfo: "", nonce: "")
        return ServerResponse(message: response)
    }

    public func deltaSecrets(
        request: StreamingServerRequest<Envoy_Service_Discovery_V3_DeltaDiscoveryRequest>, context: ServerContext
    ) async throws -> StreamingServerResponse<Envoy_Service_Discovery_V3_DeltaDiscoveryResponse> {
        throw WorkloadEndpointError(.unimplemented, "DeltaSecrets is not implemented")
    }
}

/// What an SDS stream has to handle next: requests in arrival order (bounded), whether the
/// provider changed (one flag, however many changes), whether the stream is closing; plus a
/// newest-only wake-up signal. Nothing here grows without bound.
final class SDSInbox: Sendable {
    struct Pending: Sendable {
        var requests: [Envoy_Service_Discovery_V3_DiscoveryRequest] = []
        var changed = false
        var closed = false
        var failure: WorkloadEndpointError?
    }

    private let state = Mutex(Pending())
    let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func push(_ request: Envoy_Service_Discovery_V3_DiscoveryRequest) throws(WorkloadEndpointError) {
        let accepted = state.withLock { pending -> Bool in
            guard pending.requests.count < Limits.sdsPendingRequestsMax else { return false }
            pending.requests.append(request)
            return true
        }
        guard accepted else {
            throw WorkloadEndpointError(.exhausted, "more than \(Limits.sdsPendingRequestsMax) SDS requests queued")
        }
        wake.yield()
    }

    func markChanged() {
        state.withLock { $0.changed = true }
        wake.yield()
    }

    func fail(_ error: WorkloadEndpointError) {
        state.withLock { $0.failure = error }
        wake.yield()
    }

    func close() {
        state.withLock { $0.closed = true }
        wake.yield()
        wake.finish()
    }

    func drain() -> Pending {
        state.withLock { pending in
            defer { pending = Pending(closed: pending.closed, failure: pending.failure) }
            return pending
        }
    }
}
