import Consensus

/// A broken property the simulator's checkers found.
public struct Violation: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Two leaders were elected in one term.
        case electionSafety
        /// Two replicas applied different entries at one index, or an applied entry changed.
        case logMismatch
        /// Two replicas' state machines differ after applying the same index.
        case stateDivergence
        /// A node's commit index went down while it was running.
        case commitRegression
        /// A client request took effect twice.
        case duplicateApplication
        /// An acknowledged request is missing from the converged log.
        case lostAcknowledgement
        /// A ReadIndex read returned an index older than a write acknowledged before it began.
        case staleRead
        /// The healed cluster failed to converge within the step bound.
        case liveness
    }

    public var kind: Kind
    public var step: Int
    public var detail: String

    public var description: String { "\(kind.rawValue) at step \(step): \(detail)" }
}
