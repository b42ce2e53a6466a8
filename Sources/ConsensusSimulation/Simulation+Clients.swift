import Consensus

/// Client behaviour: numbered requests with retries, and ReadIndex reads checked for
/// linearizability against acknowledged writes.
extension Simulation {
    mutating func driveClients() throws(Violation) {
        for position in clients.indices {
            driveRequest(of: position)
            driveRead(of: position)
        }
    }

    private mutating func driveRequest(of position: Int) {
        if let request = clients[position].request {
            guard now >= request.deadlineStep else { return }
            // Timed out: retry the same request ID, preferring another node.
            clients[position].leaderHint = noNode
            submit(request.requestID, data: request.data, from: position)
            return
        }
        guard !inLivenessPhase, random.chance(options.requestProbability) else { return }
        let client = clients[position]
        let requestID = RequestID(client: client.id, sequence: client.nextSequence)
        clients[position].nextSequence += 1
        let data = (0..<Int.random(in: 0...16, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
        submit(requestID, data: data, from: position)
    }

    /// Sends a request to the hinted leader (or a random node) and waits for it to apply there.
    private mutating func submit(_ requestID: RequestID, data: [UInt8], from position: Int) {
        let target = pickTarget(for: position)
        clients[position].request = SimulatedClient.Request(
            requestID: requestID, data: data, target: target,
            deadlineStep: now + options.clientTimeoutSteps)
        guard let node = nodes.firstIndex(where: { $0.id == target }), nodes[node].isRunning else {
            return
        }
        do {
            try nodes[node].raft!.propose(data, requestID: requestID)
        } catch .notLeader(let leader) {
            clients[position].leaderHint = leader
            // Fail fast so the client retries soon at the hinted leader.
            clients[position].request?.deadlineStep = now + 2
        } catch {
            clients[position].request?.deadlineStep = now + 5
        }
    }

    private mutating func pickTarget(for position: Int) -> NodeID {
        let hint = clients[position].leaderHint
        if hint != noNode { return hint }
        if let leader = nodes.first(where: { $0.raft?.role == .leader && random.chance(0.5) }) {
            return leader.id
        }
        return nodeIDs.randomElement(using: &random)!
    }

    /// Called when `node` applies (or finds already applied) `requestID` with effect at `index`.
    mutating func acknowledge(_ requestID: RequestID, at index: LogIndex, by node: NodeID) {
        guard !requestID.isNone else { return }
        for position in clients.indices {
            guard let request = clients[position].request, request.requestID == requestID,
                  request.target == node else { continue }
            clients[position].request = nil
            clients[position].leaderHint = node
            clients[position].acknowledgedCount += 1
            acknowledged[requestID] = index
            acknowledgedIndexMax = max(acknowledgedIndexMax, index)
            statistics.acknowledgedRequests += 1
        }
    }

    private mutating func driveRead(of position: Int) {
        if let read = clients[position].read, now < read.deadlineStep { return }
        clients[position].read = nil
        guard !inLivenessPhase, random.chance(options.readProbability) else { return }
        let target = pickTarget(for: position)
        guard let node = nodes.firstIndex(where: { $0.id == target }), nodes[node].isRunning else {
            return
        }
        let context = nextReadContext
        nextReadContext += 1
        do {
            try nodes[node].raft!.readIndex(context: context)
        } catch {
            return
        }
        clients[position].read = SimulatedClient.Read(
            context: context, target: target, acknowledgedIndexAtStart: acknowledgedIndexMax,
            deadlineStep: now + options.clientTimeoutSteps)
    }

    /// Serves reads whose index the node has applied, checking each against the writes that
    /// were acknowledged before the read began.
    mutating func serveReads(at position: Int) throws(Violation) {
        let applied = nodes[position].state.appliedIndex
        let ready = nodes[position].readsAwaitingApply.filter { $0.index <= applied }
        nodes[position].readsAwaitingApply.removeAll { $0.index <= applied }
        for readState in ready {
            guard let client = clients.firstIndex(where: { $0.read?.context == readState.context }),
                  let read = clients[client].read else { continue }
            clients[client].read = nil
            statistics.readsServed += 1
            if readState.index < read.acknowledgedIndexAtStart {
                throw Violation(
                    kind: .staleRead, step: now,
                    detail: "node \(nodes[position].id) read at \(readState.index) after a write"
                        + " was acknowledged at \(read.acknowledgedIndexAtStart)")
            }
        }
    }
}
