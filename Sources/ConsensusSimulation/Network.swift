import Consensus

/// The simulated network: messages in flight with delivery times, and a reachability matrix
/// for partitions. Messages travel encoded, so every run also exercises the wire codec.
struct Network {
    struct Packet {
        var deliverAtStep: Int
        var sequence: Int
        var bytes: [UInt8]
        var to: NodeID
    }

    private(set) var inFlight: [Packet] = []
    private var nextSequence = 0
    /// `blocked` holds (from, to) pairs whose packets are dropped.
    private(set) var blocked: Set<Pair> = []

    struct Pair: Hashable {
        var from: NodeID
        var to: NodeID
    }

    var isPartitioned: Bool { !blocked.isEmpty }

    mutating func send(
        _ message: Message, now: Int, options: SimulationOptions, random: inout SimulationRandom
    ) {
        guard !blocked.contains(Pair(from: message.from, to: message.to)) else { return }
        guard !random.chance(options.packetLossProbability) else { return }
        let copies = random.chance(options.packetDuplicationProbability) ? 2 : 1
        let bytes = message.encoded()
        for _ in 0..<copies {
            let delay = Int.random(in: options.delayTicksMin...options.delayTicksMax, using: &random)
            inFlight.append(Packet(
                deliverAtStep: now + delay, sequence: nextSequence, bytes: bytes, to: message.to))
            nextSequence += 1
        }
    }

    /// Removes and returns the packets due at `now`, in a random order (more reordering).
    mutating func takeDue(now: Int, random: inout SimulationRandom) -> [Packet] {
        var due: [Packet] = []
        inFlight.removeAll { packet in
            if packet.deliverAtStep <= now {
                due.append(packet)
                return true
            }
            return false
        }
        due.shuffle(using: &random)
        return due
    }

    mutating func heal() {
        blocked = []
    }

    mutating func block(from: NodeID, to: NodeID) {
        blocked.insert(Pair(from: from, to: to))
    }

    /// Splits the nodes into two sides that cannot talk to each other.
    mutating func split(_ side: Set<NodeID>, from all: [NodeID]) {
        blocked = []
        for a in all where side.contains(a) {
            for b in all where !side.contains(b) {
                block(from: a, to: b)
                block(from: b, to: a)
            }
        }
    }
}
