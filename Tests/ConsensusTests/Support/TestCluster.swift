@testable import Consensus
import ConsensusSimulation

/// A hand-driven cluster for scenario tests: messages move only when a test delivers them,
/// links can be cut one way or both, and every Ready is handled by the documented rules.
struct TestCluster {
    typealias Node = RaftNode<MemoryRaftStorage, SimulationRandom>

    struct Link: Hashable {
        var from: NodeID
        var to: NodeID
    }

    var nodes: [NodeID: Node] = [:]
    var storages: [NodeID: MemoryRaftStorage] = [:]
    var settings: [NodeID: RaftConfiguration] = [:]
    /// Every entry each node has applied, in order, since the test began.
    var applied: [NodeID: [Entry]] = [:]
    var readStates: [NodeID: [ReadState]] = [:]
    var blocked: Set<Link> = []
    var queue: [Message] = []
    /// Every message sent, for assertions about traffic.
    var sent: [Message] = []
    /// Lets a test rewrite or drop (nil) a message in flight.
    var filter: ((Message) -> Message?)?
    var seed: UInt64

    init(
        voters count: Int, preVote: Bool = true, checkQuorum: Bool = true,
        mutations: TestingMutations = [], seed: UInt64 = 1
    ) {
        self.seed = seed
        let voters = (1...count).map { NodeID($0) }
        for id in voters {
            let config = RaftConfiguration(
                id: id, electionTimeoutTicks: 10, heartbeatIntervalTicks: 1, preVote: preVote,
                checkQuorum: checkQuorum, testingMutations: mutations)
            addNode(id, settings: config, storage: MemoryRaftStorage(configuration: ConfigurationState(voters: voters)))
        }
    }

    mutating func addNode(_ id: NodeID, settings config: RaftConfiguration, storage: MemoryRaftStorage) {
        settings[id] = config
        storages[id] = storage
        applied[id] = applied[id] ?? []
        nodes[id] = Node(settings: config, storage: storage, rng: SimulationRandom(seed: seed &+ id))
    }

    subscript(id: NodeID) -> Node {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    var leader: NodeID? { nodes.values.first { $0.role == .leader }?.id }

    /// Handles every pending Ready: persist, queue messages, apply, advance.
    mutating func processReadies() {
        for id in nodes.keys.sorted() {
            while var node = nodes[id], let ready = node.ready() {
                let storage = storages[id]!
                if let snapshot = ready.snapshot {
                    storage.applySnapshot(snapshot)
                    applied[id]!.removeAll()
                }
                storage.append(ready.entries)
                if let hardState = ready.hardState { storage.setHardState(hardState) }
                queue.append(contentsOf: ready.messages)
                sent.append(contentsOf: ready.messages)
                applied[id]!.append(contentsOf: ready.committedEntries)
                readStates[id, default: []].append(contentsOf: ready.readStates)
                node.advance(ready)
                nodes[id] = node
            }
        }
    }

    /// Delivers queued messages (and the ones they cause) until the network is quiet.
    mutating func stabilize(rounds: Int = 200) {
        for _ in 0..<rounds {
            processReadies()
            if queue.isEmpty { return }
            let batch = queue
            queue = []
            for message in batch { deliver(message) }
        }
    }

    mutating func deliver(_ message: Message) {
        guard !blocked.contains(Link(from: message.from, to: message.to)),
              let message = filter.map({ $0(message) }) ?? message,
              nodes[message.to] != nil else { return }
        nodes[message.to]!.step(message)
    }

    mutating func tick(_ id: NodeID, times: Int = 1) {
        for _ in 0..<times {
            nodes[id]!.tick()
            stabilize()
        }
    }

    mutating func tickAll(times: Int) {
        for _ in 0..<times {
            for id in nodes.keys.sorted() { nodes[id]!.tick() }
            stabilize()
        }
    }

    /// Makes `id` campaign now (with pre-vote if configured) and settles the result.
    mutating func campaign(_ id: NodeID) {
        nodes[id]!.campaign(settings[id]!.preVote ? .preElection : .election)
        stabilize()
    }

    /// Lets the leader lease lapse on `ids`, as if an election timeout passed without a leader.
    mutating func expireLease(_ ids: NodeID...) {
        for id in ids { nodes[id]!.electionElapsedTicks = settings[id]!.electionTimeoutTicks }
    }

    mutating func isolate(_ id: NodeID) {
        for other in nodes.keys where other != id {
            blocked.insert(Link(from: id, to: other))
            blocked.insert(Link(from: other, to: id))
        }
    }

    mutating func cut(_ a: NodeID, _ b: NodeID) {
        blocked.insert(Link(from: a, to: b))
        blocked.insert(Link(from: b, to: a))
    }

    mutating func heal() {
        blocked = []
    }

    /// Restarts a node from its storage, as after a crash (volatile state is lost).
    mutating func restart(_ id: NodeID) {
        applied[id] = []
        nodes[id] = Node(settings: settings[id]!, storage: storages[id]!, rng: SimulationRandom(seed: seed &+ id &+ 100))
    }

    @discardableResult
    mutating func propose(_ id: NodeID, _ text: String, client: UInt64 = 1, sequence: UInt64 = 1)
        throws(ProposalError) -> LogIndex
    {
        let index = try nodes[id]!.propose(Array(text.utf8), requestID: RequestID(client: client, sequence: sequence))
        stabilize()
        return index
    }

    func appliedTexts(_ id: NodeID) -> [String] {
        applied[id]!.filter { $0.kind == .command }.map { String(decoding: $0.data, as: UTF8.self) }
    }
}
