/// What the fault suite records, as plain values: client operations with their monotonic
/// invoke/complete times, each server's final committed log, and what each server said about
/// leadership. The harness that produces them lives outside this module; everything here is
/// pure, so a history can be checked (and a checker bug reproduced) from values alone.

/// Nanoseconds on one monotonic clock shared by every recorder of a run.
public typealias Nanoseconds = UInt64

/// How an operation ended, from the client's point of view.
public enum Outcome: Sendable, Hashable {
    /// Acknowledged: the server said the append committed (or the read returned).
    case ok
    /// Definitely not applied: the server refused it for a reason that precedes any append
    /// (invalid argument, permission, …). Such an append must be absent from the log.
    case fail
    /// Indeterminate: a timeout, a broken connection, Unavailable, or still running when the
    /// run ended. Such an append may or may not be in the log, but at most once.
    case timeout
}

/// One client operation.
public struct ClientOperation: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        /// Appends one log record identified by `key` (unique per operation).
        case append(key: String)
        /// Reads the current set of keys from one server (`entry show`).
        case read
        /// A stream reader's whole output: the keys it saw, in the order it saw them.
        case stream
    }

    public var kind: Kind
    /// The client that ran it (one operation at a time per client).
    public var client: Int
    /// The server whose API took the call.
    public var server: String
    public var invoked: Nanoseconds
    /// nil while running or when it never completed (then `outcome` is `.timeout`).
    public var completed: Nanoseconds?
    public var outcome: Outcome
    /// For `.read`: the keys seen (order irrelevant). For `.stream`: in arrival order.
    public var observed: [String]

    public init(kind: Kind, client: Int, server: String, invoked: Nanoseconds, completed: Nanoseconds?,
                outcome: Outcome, observed: [String] = []) {
        self.kind = kind
        self.client = client
        self.server = server
        self.invoked = invoked
        self.completed = completed
        self.outcome = outcome
        self.observed = observed
    }

    public var key: String? {
        if case .append(let key) = kind { return key }
        return nil
    }
}

/// One record of a server's committed log. `key` is the operation key the record carries, nil
/// for records the suite did not write (Raft no-ops, CA events, …).
public struct LogRecord: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var key: String?

    public init(index: UInt64, term: UInt64, key: String?) {
        self.index = index
        self.term = term
        self.key = key
    }
}

/// A server's log through its applied (so committed) index, in index order. It may begin after
/// index 1 when the server compacted its log into a snapshot; then `state` must be given.
public struct ServerLog: Sendable, Hashable {
    public var server: String
    public var records: [LogRecord]
    /// The keys the server's applied state holds (one per registration entry, so a key twice
    /// is a duplicate), through the same index as `records`. Required when the log was
    /// compacted: the compacted prefix is known only through the state it left.
    public var state: [String]?
    /// A member removed from the cluster: its log must agree with the others where they
    /// overlap, but it stopped receiving entries, so it need not hold every acknowledged one.
    public var retired: Bool
    /// The index the log was compacted through (0: never); `records` begin after it.
    public var compactedThrough: UInt64

    public init(server: String, records: [LogRecord], compactedThrough: UInt64 = 0, state: [String]? = nil, retired: Bool = false) {
        self.server = server
        self.records = records
        self.compactedThrough = compactedThrough
        self.state = state
        self.retired = retired
    }
}

/// What one server said at one moment: "in `term`, the leader is node `leader`" (its own ID
/// when it leads). Sampled from the servers' metrics, so short-lived leaders may go unseen.
public struct LeaderObservation: Sendable, Hashable {
    public var server: String
    public var term: UInt64
    public var leader: UInt64
    public var at: Nanoseconds

    public init(server: String, term: UInt64, leader: UInt64, at: Nanoseconds) {
        self.server = server
        self.term = term
        self.leader = leader
        self.at = at
    }
}
