import ChangeFeed
import Consensus
import Foundation
import IdentityModel
import LogStore
import Logging
import Projections

/// One server's identity log: the LMDB store, the Raft driver over it, the projections it
/// applies to, and the change feed. Every decision the server makes goes through `submit`;
/// every answer it gives comes from `state`.
public final class IdentityLog: Sendable {
    public let nodeName: NodeName
    public let view: IdentityStateView
    public let feed: ChangeFeed
    public let metrics = ServerMetrics()
    /// Each decision committed through `submit` gets a line (`DecisionLog`).
    public let logger: Logger
    private let driver: LogDriver<ProjectionApplier>
    /// Only the driver touches the store while it runs; `run()` closes it after the driver has
    /// stopped, so this reference is never used from two tasks at once.
    private nonisolated(unsafe) let store: LogStore

    /// Why an event was not applied, for API handlers to turn into a status.
    public struct Rejected: Error, CustomStringConvertible {
        public let rejection: Rejection
        public var description: String { "\(rejection)" }
    }

    /// Opens (or creates) the log under `dataDir` and loads the projections from its tables.
    public init(dataDir: String, nodeName: NodeName, logger: Logger = .init(label: "lineage.server") { _ in SwiftLogNoOpLogHandler() }) throws {
        let path = DataDirectory.logStore(dataDir)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let store = try LogStore(directory: path)
        let state = try ProjectionApplier.load(from: store)
        self.store = store
        self.nodeName = nodeName
        self.logger = logger
        self.view = IdentityStateView()
        self.feed = ChangeFeed(startingAfter: LogIndex(try store.appliedIndex()))
        self.driver = try LogDriver(
            store: store, applier: ProjectionApplier(state: state, view: view, feed: feed),
            settings: .init(raft: RaftConfiguration(id: 1), bootstrapVoters: [1]))
    }

    /// The latest durable state.
    public var state: IdentityState { view.state }

    public var status: LogDriver<ProjectionApplier>.Status { driver.currentStatus }

    /// Runs the driver until cancelled; closes the store on the way out.
    public func run() async throws {
        defer { try? store.close() }
        try await driver.run()
    }

    /// Waits until this server leads (a single server elects itself at once).
    public func waitUntilLeader(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while driver.currentStatus.role != .leader {
            guard ContinuousClock.now < deadline else { throw LogDriver<ProjectionApplier>.ProposalError.notLeader(leader: 0) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Stamps `event` with the time, the actor and a fresh request ID, appends it, and returns
    /// once it is committed, durable and applied. Throws `Rejected` when the projector refused it.
    @discardableResult
    public func submit(_ event: Event, by actor: Actor, at time: Date = Date()) async throws -> (index: UInt64, changes: [Change]) {
        var random = SystemRandomNumberGenerator()
        let envelope = EventEnvelope(
            issuedAt: Timestamp(date: time), actor: actor, requestID: RequestID.random(using: &random), event: event)
        let started = ContinuousClock.now
        let applied = try await driver.propose(try EventCodec.encode(envelope))
        metrics.commitLatency(ContinuousClock.now - started)
        switch applied.outcome {
        case .applied(let changes):
            let line = DecisionLog.line(for: event, by: actor, index: applied.index)
            logger.log(level: line.level, "\(line.message)", metadata: line.metadata)
            return (applied.index, changes)
        case .rejected(let rejection):
            logger.debug("Request rejected", metadata: ["caller": "\(actor)", "event": "\(event.kind)", "reason": "\(rejection)"])
            throw Rejected(rejection: rejection)
        }
    }
}

extension Timestamp {
    public init(date: Date) {
        self.init(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSinceEpoch) / 1000) }
}
