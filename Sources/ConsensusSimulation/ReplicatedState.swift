import Consensus

/// What one replica derives from the committed log: the application state plus the client
/// session table that makes retried requests apply at most once. Both are replicated state
/// and travel together in snapshots.
public struct ReplicatedState<Machine: StateMachine> {
    public private(set) var machine = Machine()
    public private(set) var sessions = ClientSessionTable()
    public private(set) var appliedIndex: LogIndex = 0

    public init() {}

    /// The outcome of applying one entry, for acknowledging clients.
    public enum Outcome: Equatable {
        case applied
        case duplicate(appliedAt: LogIndex)
        case notACommand
    }

    public mutating func apply(_ entry: Entry) -> Outcome {
        precondition(entry.index == appliedIndex + 1, "apply out of order at \(entry.index)")
        appliedIndex = entry.index
        guard entry.kind == .command else { return .notACommand }
        switch sessions.admit(entry.requestID, at: entry.index) {
        case .apply:
            machine.apply(entry)
            return .applied
        case .duplicate(let index):
            return .duplicate(appliedAt: index)
        }
    }

    /// A digest of everything replicated: the machine and the session table.
    public var digest: UInt64 { fnv1a64(sessions.encoded(), continuing: machine.digest) }

    public func snapshot() -> [UInt8] {
        var bytes: [UInt8] = []
        let machineBytes = machine.snapshot()
        bytes.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: machineBytes.count >> (24 - 8 * $0)) })
        bytes.append(contentsOf: machineBytes)
        bytes.append(contentsOf: sessions.encoded())
        return bytes
    }

    public init(snapshot bytes: [UInt8], at index: LogIndex) throws(DecodingError) {
        guard bytes.count >= 4 else { throw .truncated }
        let length = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
        guard length <= bytes.count - 4 else { throw .truncated }
        machine = try Machine(snapshot: Array(bytes[4..<4 + length]))
        sessions = try ClientSessionTable(decoding: Array(bytes[(4 + length)...]))
        appliedIndex = index
    }
}
