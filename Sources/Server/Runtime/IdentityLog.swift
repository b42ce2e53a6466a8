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
    /// What `submit` proposed, decoded already, for this server's apply (`DecodedProposals`).
    private let proposals = DecodedProposals()
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
        /// Asks `leader` for a read index (nil: it does not lead).
        public var readIndex: @Sendable (_ leader: NodeID) async throws -> UInt64?
        /// Applied entries between snapshots (`server.cluster.snapshot_interval_entries`); nil:
        /// the driver's default.
        public var snapshotIntervalEntries: UInt64?

        public init(
            registry: MemberRegistry, bootstrap: ClusterMembership?, send: @escaping @Sendable ([Message]) -> Void,
            forward: @escaping @Sendable (NodeID, [UInt8], Consensus.RequestID) async throws -> ForwardReply,
            readIndex: @escaping @Sendable (NodeID) async throws -> UInt64? = { _ in
                throw RPCError(code: .unavailable, message: "this server cannot ask the leader for a read index")
            },
            snapshotIntervalEntries: UInt64? = nil
        ) {
            self.registry = registry
            self.bootstrap = bootstrap
            self.readIndex = readIndex
            self.send = send
            self.forward = forward
            self.snapshotIntervalEntries = snapshotIntervalEntries
        }
    }

    /// A write that could not reach a leader, or whose result this server cannot learn in time.
    public struct Unavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (or creates) the log under `dataDir` and loads the projections from its tables.
    /// With `replication` the log is one member's copy of a cluster's log. `groupCommit`: how
    /// long a write after a busy pass waits to share its fsync (`GroupCommitPacing`); by
    /// default `.standard` on a single server and `.off` in a cluster.
    public init(
        dataDir: String, nodeName: NodeName, replication: Replication? = nil, groupCommit: GroupCommitPacing? = nil,
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
        let requests = try ProjectionApplier.loadRequests(from: store)
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
            if let interval = replication.snapshotIntervalEntries { settings.snapshotIntervalEntries = interval }
            send = replication.send
            let registry = replication.registry
            learn = { registry.learn($0) }
        }
        // A single server's commit waits for its own fsync, which pacing shares among more
        // writes. A cluster leader's commit waits for a follower's round trip, during which
        // writes gather anyway: there pacing only added delay (docs/benchmarks.md).
        settings.groupCommit = groupCommit ?? (replication == nil ? .standard : .off)
        self.driver = try LogDriver(
            store: store, applier: ProjectionApplier(state: state, requests: requests, view: view, feed: feed, proposals: proposals),
            settings: settings,
            send: send, onConfigurationEntries: learn)
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

    /// The leader's side of ReadIndex for another member: the confirmed read index. Throws
    /// `notLeader` unless this server leads.
    public func readIndexForPeer() async throws -> UInt64 {
        try await driver.readIndex(timeout: Limits.readIndexTimeout)
    }

    /// Returns once this server's state is current as of the call (Raft ReadIndex): the leader
    /// confirmed it still leads and named its commit index, and this server has applied
    /// through it. A single server is always current. Throws `Unavailable` (naming why) when
    /// no leader answers or this server does not catch up within `Limits.currentReadWait`.
    public func awaitCurrent() async throws {
        guard let replication else { return }
        let deadline = ContinuousClock.now + Limits.currentReadWait
        var delay = Duration.milliseconds(10)
        var lastProblem = "no leader is known"
        while ContinuousClock.now < deadline {
            let status = driver.currentStatus
            var index: UInt64?
            do {
                if status.role == .leader {
                    index = try await driver.readIndex(timeout: min(Limits.readIndexTimeout, ContinuousClock.now.duration(to: deadline)))
                } else if status.leader != noNode {
                    index = try await replication.readIndex(status.leader)
                    if index == nil { lastProblem = "node \(status.leader) no longer leads" }
                }
            } catch LogDriver<ProjectionApplier>.ProposalError.notLeader {
                lastProblem = "leadership moved"
            } catch let error as LogDriver<ProjectionApplier>.ReadIndexTimedOut {
                lastProblem = "\(error)"
            } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
                lastProblem = "the leader (node \(status.leader)) did not answer: \(error.message)"
            }
            if let index {
                while driver.currentStatus.appliedIndex < index {
                    guard ContinuousClock.now < deadline else {
                        throw Unavailable(description: """
                            this server has not applied through the leader's read index \(index) within \
                            \(Limits.currentReadWait); a read here would not be current
                            """)
                    }
                    try await Task.sleep(for: .milliseconds(2))
                }
                return
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(200))
        }
        throw Unavailable(description: """
            no leader confirmed a read index within \(Limits.currentReadWait) (\(lastProblem)); a read here \
            would not be current
            """)
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
        var random = PooledRandom()
        let envelope = EventEnvelope(
            issuedAt: Timestamp(date: time), actor: actor, requestID: RequestID.random(using: &random), event: event)
        let started = ContinuousClock.now
        let (data, decoded) = try EventCodec.encodeChecked(envelope)
        // One request ID for every attempt: a leader still holding the entry uncommitted does
        // not append it again, and whichever copy applies first answers.
        let requestID = driver.newRequestID()
        proposals.hold(decoded, for: requestID)
        defer { proposals.drop(requestID) }
        let applied = try await append(data, requestID: requestID)
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
    private func append(_ data: [UInt8], requestID: Consensus.RequestID) async throws -> LogDriver<ProjectionApplier>.Applied {
        guard let replication else { return try await driver.propose(data, requestID: requestID) }
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
