/// What a leader knows of one voter's replication, for operators (`cluster status`).
public struct PeerReplicationStatus: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        case probe, replicate, snapshot
    }

    public var node: NodeID
    /// The highest index known to be on the peer's disk.
    public var match: LogIndex
    /// The next index the leader will send it.
    public var next: LogIndex
    public var state: State
    /// Whether the peer answered since the last check-quorum round.
    public var recentActive: Bool
}

extension RaftNode {
    /// The leader's view of every voter's replication (itself included), sorted by node ID;
    /// empty unless this node leads.
    public var replicationStatus: [PeerReplicationStatus] {
        guard role == .leader else { return [] }
        return progress.keys.sorted().map { node in
            let peer = progress[node]!
            let state: PeerReplicationStatus.State = switch peer.state {
            case .probe: .probe
            case .replicate: .replicate
            case .snapshot: .snapshot
            }
            return PeerReplicationStatus(node: node, match: peer.match, next: peer.next, state: state, recentActive: peer.recentActive)
        }
    }

    /// The first index still in the log (after the last snapshot): a new member needs a
    /// snapshot when this is above 1.
    public var firstLogIndex: LogIndex { log.firstIndex() }
}
