import Synchronization

/// The long-lived streams (Workload API watches, SDS streams) open on the endpoint: bounded in
/// number, and ended together on shutdown. grpc-swift's graceful shutdown waits for every RPC to
/// finish, and a watch never finishes on its own, so each stream registers how to end itself.
public final class OpenStreams: Sendable {
    private struct State {
        var streams: [UInt64: @Sendable () -> Void] = [:]
        var nextStream: UInt64 = 0
        var isShutDown = false
    }

    private let state = Mutex(State())
    private let streamsMax: Int

    public init(streamsMax: Int = Limits.openStreamsMax) {
        precondition(streamsMax > 0)
        self.streamsMax = streamsMax
    }

    public var count: Int { state.withLock { $0.streams.count } }
    public var isShutDown: Bool { state.withLock { $0.isShutDown } }

    /// Runs `body` as an open stream; `end` is called (once, from any thread) on shutdown and
    /// must make `body` return soon.
    public func withStream<Result: Sendable>(
        end: @escaping @Sendable () -> Void, _ body: () async throws -> Result
    ) async throws -> Result {
        let id = try open(end: end)
        defer { close(id) }
        return try await body()
    }

    private func open(end: @escaping @Sendable () -> Void) throws(WorkloadEndpointError) -> UInt64 {
        let result = state.withLock { state -> Result<UInt64, WorkloadEndpointError> in
            if state.isShutDown { return .failure(.shuttingDown) }
            guard state.streams.count < streamsMax else {
                return .failure(WorkloadEndpointError(.exhausted, "too many open streams (\(streamsMax))"))
            }
            let id = state.nextStream
            state.nextStream += 1
            state.streams[id] = end
            return .success(id)
        }
        return try result.get()
    }

    private func close(_ id: UInt64) {
        _ = state.withLock { $0.streams.removeValue(forKey: id) }
    }

    /// Refuses new streams and ends every open one.
    public func shutDown() {
        let ends = state.withLock { state in
            state.isShutDown = true
            return Array(state.streams.values)
        }
        for end in ends { end() }
    }
}
