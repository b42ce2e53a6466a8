import Consensus

/// A client that issues numbered requests one at a time and retries each (same request ID)
/// until some server applies it, plus occasional ReadIndex reads.
struct SimulatedClient {
    struct Request {
        var requestID: RequestID
        var data: [UInt8]
        var target: NodeID
        var deadlineStep: Int
    }

    struct Read {
        var context: UInt64
        var target: NodeID
        /// The highest acknowledged write index when the read began; the answer must not be older.
        var acknowledgedIndexAtStart: LogIndex
        var deadlineStep: Int
    }

    let id: UInt64
    var nextSequence: UInt64 = 1
    var request: Request?
    var read: Read?
    var leaderHint: NodeID = noNode
    var acknowledgedCount = 0
}
