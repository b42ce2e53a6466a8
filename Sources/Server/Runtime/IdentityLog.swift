import ChangeFeed
import Consensus
import Foundation
import GRPCCore
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
    /// How this server reaches the others; nil for a single server.
    public let replication: Replication?
    /// Only the driver touches the store while it runs; `run()` closes it after the driver has
    /// stopped, so this reference is never used from two tasks at once.
    private nonisolated(unsafe) let store: LogStore

    /// Why an event was not applied, for API handlers to turn into a status.
    public struct Rejected: Error, CustomStringConvertible {
        public let rejection: Rejection
        public var description: String { "\(rejection)" }
    }

    /// A cluster member's ways to the others: Raft messages out, writes forwarded to the leader.
    public struct Replication: Sendable {
        public enum ForwardReply: Sendable, Equatable {
            /// The leader committed and applied the entry at this index.
            case committed(UInt64)
            /// The server asked does not lead; nothing was appended.
            case notLeader
        }

        /// The members, learned from the log as it grows.
        public var registry: MemberRegistry
        /// The static configuration of a bootstrap member (checked against the data directory);
        /// nil for a member that joined later.
        public var bootstrap: ClusterMembership?
        public var send: @Sendable ([Message]) -> Void
        /// Asks `leader` to append an encoded event under `requestID`.
        public var forward: @Sendable (_ leader: NodeID, _ data: [UInt8], _ requestID: Consensus.RequestID) async throws -> ForwardReply

        public init(
            registry: MemberRegistry, bootstrap: ClusterMembership?, send: @escaping @Sendable ([Message]) -> Void,
            forward: @escaping @Sendable (NodeID, [UInt8], Consensus.RequestID) async throws -> ForwardReply
        ) {
            self.registry = registry
            self.bootstrap = bootstrap
            self.send = send
            self.forward = forward
        }
    }

    /// A write that could not reach a leader, or whose result this server cannot learn in time.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (or creates) the log under `dataDir` and loads the projections from its tables.
    /// With `replication` the log is one member's copy of a cluster's log.
    public init(
        dataDir: String, nodeName: NodeName, replication: Replication? = nil,
        logger: Logger = .init(label: "lineage.server") { _ in SwiftLogNoOpLogHandler() }
    ) throws {
        let path = DataDirectory.logStore(dataDir)
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let store = try LogStore(directory: path)
        if let replication {
            precondition(replication.registry.selfName == nodeName, "the log's node name is its member name")
            try replication.bootstrap?.checkRecorded(
                dataDir: dataDir, logIsEmpty: try store.lastIndex == 0 && store.snapshotMeta() == nil)
        } else {
            try ClusterMembership.checkNotClusterLog(dataDir: dataDir)
        }
        let state = try ProjectionApplier.load(from: store)
        self.replication = replication
        self.store = store
        self.nodeName = nodeName
        self.logger = logger
        self.view = IdentityStateView()
        self.feed = ChangeFeed(startingAfter: LogIndex(try store.appliedIndex()))
        var settings = LogDriver<ProjectionApplier>.Settings(raft: RaftConfiguration(id: 1), bootstrapVoters: [1])
        var send: @Sendable ([Message]) -> Void = { _ in }
        var learn: @Sendable ([ConfigurationChange]) -> Void = { _ in }
        if let replication {
            // A joined member opens an empty log with the bootstrap voters, which do not include
            // it: it cannot campaign until the leader's entries (its own addition among them) arrive.
            settings = .init(raft: RaftConfiguration(id: replication.registry.selfID), bootstrapVoters: replication.registry.bootstrapVoters)
            send = replication.send
            let registry = replication.registry
            learn = { registry.learn($0) }
        }
        self.driver = try LogDriver(
            store: store, applier: ProjectionApplier(state: state, view: view, feed: feed), settings: settings, send: send,
            onConfigurationEntries: learn)
    }

    /// The latest durable state.
    public var state: IdentityState { view.state }

    public var status: LogDriver<ProjectionApplier>.Status { driver.currentStatus }

    /// Runs the driver until cancelled; closes the store on the way out.
    public func run() async throws {
        defer { try? store.close() }
        try await driver.run()
    }

    /// A Raft message from another member.
    public func receive(_ message: Message) {
        driver.receive(message)
    }

    /// Appends an event another member forwarded, under that member's request ID; returns once
    /// it is committed and applied here. Throws `notLeader` unless this server leads.
    public func appendForwarded(_ data: [UInt8], requestID: Consensus.RequestID) async throws -> UInt64 {
        try await driver.propose(data, requestID: requestID).index
    }

    /// Appends a membership change (this server must lead); returns its index once applied.
    public func proposeConfigurationChange(_ change: ConfigurationChange) async throws -> UInt64 {
        try await driver.proposeConfigurationChange(change)
    }

    /// Waits until some member leads, as far as this server knows.
    public func waitForLeader() async throws {
        while driver.currentStatus.leader == noNode {
            try await Task.sleep(for: .milliseconds(20))
        }
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
        let applied = try await append(try EventCodec.encode(envelope))
        metrics.commitLatency(ContinuousClock.now - started)
        switch applied.outcome {
        case .applied(let changes):
            if logger.logLevel <= DecisionLog.level(for: event) {
                let line = DecisionLog.line(for: event, by: actor, index: applied.index)
                logger.log(level: line.level, "\(line.message)", metadata: line.metadata)
            }
            return (applied.index, changes)
        case .rejected(let rejection):
            logger.debug("Request rejected", metadata: ["caller": "\(actor)", "event": "\(event.kind)", "reason": "\(rejection)"])
            throw Rejected(rejection: rejection)
        }
    }
}

extension IdentityLog {
    /// Appends through the leader: proposed here when this server leads, forwarded to the
    /// leader otherwise. A forwarded write returns once the leader has committed it and this
    /// server has applied it too (so a read here right after sees it), with the outcome this
    /// server's own apply computed — the same one the leader's did, as apply is deterministic.
    /// While there is no leader (an election), it retries for `Limits.leaderWait`.
    private func append(_ data: [UInt8]) async throws -> LogDriver<ProjectionApplier>.Applied {
        guard let replication else { return try await driver.propose(data) }
        // One request ID for every attempt: a leader still holding the entry uncommitted does
        // not append it again, and whichever copy applies first answers.
        let requestID = driver.newRequestID()
        let deadline = ContinuousClock.now + Limits.leaderWait
        var delay = Duration.milliseconds(20)
        var lastProblem = "no leader is known"
        while true {
            let status = driver.currentStatus
            if status.role == .leader {
                do {
                    return try await driver.propose(data, requestID: requestID)
                } catch LogDriver<ProjectionApplier>.ProposalError.notLeader {
                    lastProblem = "leadership moved"
                }
            } else if status.leader != noNode {
                let signal = try driver.expectForwarded(requestID)
                do {
                    if case .committed(let index) = try await replication.forward(status.leader, data, requestID) {
                        do {
                            return try await signal.value(timeout: Limits.forwardedApplyWait)
                        } catch is AppliedSignal<ApplyOutcome>.TimedOut {
                            driver.cancelForwarded(signal)
                            throw Unavailable(description: """
                                the leader committed the write at index \(index), but this server has not applied it \
                                within \(Limits.forwardedApplyWait); retry the read
                                """)
                        }
                    }
                    driver.cancelForwarded(signal)
                    lastProblem = "node \(status.leader) no longer leads"
                } catch let error as RPCError where error.code == .unavailable {
                    // The connection failed: the leader did not take the write, or holds it
                    // uncommitted under this request ID and does not append it twice.
                    driver.cancelForwarded(signal)
                    lastProblem = "the leader (node \(status.leader)) is unreachable: \(error.message)"
                } catch {
                    driver.cancelForwarded(signal)
                    throw error
                }
            }
            guard ContinuousClock.now + delay < deadline else {
                throw Unavailable(description: "no leader accepted the write within \(Limits.leaderWait): \(lastProblem)")
            }
            try await Task.sleep(for: delay)
            // Capped low: while there is no leader this only polls local status (and a refused
            // forward costs one failed connect), and a long sleep here adds straight to the
            // failover time a client sees after the election (docs/benchmarks.md, "Failover").
            delay = min(delay * 2, .milliseconds(100))
        }
    }
}

extension Timestamp {
    public init(date: Date) {
        self.init(millisecondsSinceEpoch: Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }

    public var date: Date { Date(timeIntervalSince1970: Double(millisecondsSinceEpoch) / 1000) }
}
