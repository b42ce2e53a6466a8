import Consensus

/// One simulated server: its durable disk, and (while running) its volatile Raft node and
/// replicated state. A class so the driver loop mutates nodes in place instead of copying a
/// whole Raft node per access (which dominates debug-build run time).
final class SimulatedNode<Machine: StateMachine> {
    typealias Node = RaftNode<MemoryRaftStorage, SimulationRandom>

    enum Lifecycle {
        /// Not yet part of the cluster; started when the leader proposes to add it.
        case spare
        /// A member (running or crashed).
        case active
        /// Removed from the configuration and shut down for good; its ID is never reused.
        case decommissioned
    }

    let id: NodeID
    var lifecycle: Lifecycle
    /// What has been fsynced. Survives crashes.
    let disk: MemoryRaftStorage
    /// A hard state written without fsync (`Ready.mustSync == false`); lost on a crash.
    var unsyncedHardState: HardState?
    var raft: Node?
    var state = ReplicatedState<Machine>()
    /// The highest commit index seen in this incarnation, for the monotonicity checker.
    var commitSeen: LogIndex = 0
    /// Reads answered with a read index, waiting for the state machine to catch up.
    var readsAwaitingApply: [ReadState] = []
    var incarnation = 0
    /// When set, the fault injector restarts this crashed node at this step.
    var restartAtStep: Int?

    init(id: NodeID, voters: [NodeID], lifecycle: Lifecycle) {
        self.id = id
        self.lifecycle = lifecycle
        disk = MemoryRaftStorage(configuration: ConfigurationState(voters: voters))
    }

    var isRunning: Bool { raft != nil }

    func start(settings: RaftConfiguration, random: SimulationRandom) throws(DecodingError) {
        precondition(raft == nil, "node \(id) is already running")
        let snapshot = disk.currentSnapshot
        state = snapshot.isEmpty
            ? ReplicatedState()
            : try ReplicatedState(snapshot: snapshot.data, at: snapshot.metadata.index)
        raft = Node(settings: settings, storage: disk, rng: random)
        commitSeen = raft!.commitIndex
        readsAwaitingApply = []
        incarnation += 1
    }

    /// A power cut: volatile state and unsynced writes are gone; the disk stays.
    func crash() {
        raft = nil
        restartAtStep = nil
        unsyncedHardState = nil
        readsAwaitingApply = []
    }
}
