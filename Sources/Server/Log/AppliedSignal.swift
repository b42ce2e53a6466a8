import Consensus
import Synchronization

/// The one result a forwarded request gets: its entry applied on this server (index and
/// outcome), or a failure. Finishing twice keeps the first result, so the driver and a
/// cancelling forwarder may race.
public final class AppliedSignal<Outcome: Sendable>: Sendable {
    public typealias Applied = (index: Consensus.LogIndex, outcome: Outcome)

    private let stream: AsyncThrowingStream<Applied, any Error>
    private let continuation: AsyncThrowingStream<Applied, any Error>.Continuation

    public struct TimedOut: Error, CustomStringConvertible {
        public var description: String { "the entry was not applied on this server in time" }
    }

    /// The request whose entry this signal waits for.
    public let requestID: RequestID

    init(requestID: RequestID) {
        self.requestID = requestID
        (stream, continuation) = AsyncThrowingStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func finish(_ result: Result<Applied, any Error>) {
        switch result {
        case .success(let applied):
            continuation.yield(applied)
            continuation.finish()
        case .failure(let error):
            continuation.finish(throwing: error)
        }
    }

    /// Waits for the result, at most `timeout`; throws `TimedOut` after it. Call once.
    public func value(timeout: Duration) async throws -> Applied {
        let stream = self.stream
        return try await withThrowingTaskGroup(of: Applied?.self) { group in
            group.addTask {
                for try await applied in stream { return applied }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let applied = first else { throw TimedOut() }
            return applied
        }
    }
}
