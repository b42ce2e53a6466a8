import Testing
@testable import Consensus
import ConsensusSimulation

@Suite("Idempotent client requests")
struct IdempotencyTests {
    @Test("A leader returns the existing index for a retried request it has not committed")
    func leaderCoalescesRetries() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(1)
        let first = try cluster[1].propose([1], requestID: RequestID(client: 4, sequence: 1))
        let retry = try cluster[1].propose([1], requestID: RequestID(client: 4, sequence: 1))
        #expect(first == retry)
        #expect(cluster[1].lastIndex == first)
    }

    @Test("A retry that reached the log twice takes effect once")
    func applierDeduplicates() {
        var state = ReplicatedState<HashChainStateMachine>()
        let request = RequestID(client: 1, sequence: 1)
        #expect(state.apply(Entry(term: 1, index: 1, kind: .noop)) == .notACommand)
        #expect(state.apply(Entry(term: 1, index: 2, requestID: request, data: [7])) == .applied)
        #expect(state.apply(Entry(term: 2, index: 3, requestID: request, data: [7])) == .duplicate(appliedAt: 2))
        #expect(state.machine.appliedCount == 1)
    }

    @Test("Sessions survive a snapshot, so deduplication is replicated state")
    func sessionsInSnapshot() throws {
        var state = ReplicatedState<HashChainStateMachine>()
        _ = state.apply(Entry(term: 1, index: 1, requestID: RequestID(client: 3, sequence: 5), data: [1]))
        let restored = try ReplicatedState<HashChainStateMachine>(snapshot: state.snapshot(), at: 1)
        #expect(restored.digest == state.digest)
        var copy = restored
        #expect(copy.apply(Entry(term: 1, index: 2, requestID: RequestID(client: 3, sequence: 5))) == .duplicate(appliedAt: 1))
    }

    @Test("The session table is bounded and evicts the longest-idle client")
    func sessionTableBounded() {
        var table = ClientSessionTable(capacity: 2)
        #expect(table.admit(RequestID(client: 1, sequence: 1), at: 1) == .apply)
        #expect(table.admit(RequestID(client: 2, sequence: 1), at: 2) == .apply)
        #expect(table.admit(RequestID(client: 1, sequence: 2), at: 3) == .apply)
        #expect(table.admit(RequestID(client: 3, sequence: 1), at: 4) == .apply)
        #expect(table.count == 2)
        #expect(table.lastSequence(of: 2) == nil)
        #expect(table.lastSequence(of: 1) == 2)
    }
}

@Suite("Flow control and limits")
struct FlowControlTests {
    @Test("At most Limits.inflightAppendsMax appends are in flight to a silent follower")
    func inflightBounded() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        // Followers receive but their answers are lost.
        cluster.filter = { $0.kind == .appendResponse ? nil : $0 }
        for sequence: UInt64 in 1...200 {
            _ = try cluster[1].propose([UInt8(sequence % 256)], requestID: RequestID(client: 1, sequence: sequence))
            cluster.processReadies()
        }
        let appendsToTwo = cluster.sent.filter { $0.kind == .append && $0.to == 2 && !$0.entries.isEmpty }
        #expect(appendsToTwo.count <= Limits.inflightAppendsMax + 2)
    }

    @Test("Append messages respect the byte limit unless a single entry exceeds it")
    func appendBytesBounded() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        cluster.isolate(2)
        let payload = [UInt8](repeating: 0xAB, count: 300_000)
        for sequence: UInt64 in 1...10 {
            _ = try cluster[1].propose(payload, requestID: RequestID(client: 1, sequence: sequence))
        }
        cluster.stabilize()
        cluster.heal()
        cluster.tickAll(times: 3)
        let appends = cluster.sent.filter { $0.kind == .append && $0.to == 2 }
        #expect(appends.allSatisfy { $0.entries.count <= 1 || totalSizeBytes($0.entries) <= Limits.appendBatchBytesMax })
        #expect(cluster[2].lastIndex == cluster[1].lastIndex)
    }

    @Test("Oversized proposals are refused, and uncommitted bytes apply back-pressure")
    func proposalLimits() throws {
        var cluster = TestCluster(voters: 3)
        cluster.campaign(1)
        #expect(throws: ProposalError.tooLarge) {
            try cluster[1].propose([UInt8](repeating: 0, count: Limits.proposalBytesMax + 1), requestID: .none)
        }
        cluster.isolate(1)
        let payload = [UInt8](repeating: 1, count: Limits.proposalBytesMax)
        var accepted = 0
        var refused = false
        for sequence: UInt64 in 1...40 {
            do {
                try cluster[1].propose(payload, requestID: RequestID(client: 1, sequence: sequence))
                accepted += 1
            } catch .backpressure {
                refused = true
                break
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(refused)
        #expect(accepted * (Limits.proposalBytesMax + Limits.entryOverheadBytes) <= Limits.uncommittedBytesMax)
    }
}
