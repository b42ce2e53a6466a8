import Synchronization

/// A coalescing wake-up for one waiter at a time: `signal()` sets it, `wait()` returns once it
/// is set and clears it. Unlike an `AsyncStream`, whose iteration ends for good when a task
/// waiting on it is cancelled, a cancelled `wait()` ends only that wait: gRPC cancels a step
/// stream's request producer when the call fails, and the link must go on waking afterwards.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var closed = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Bool, Never>)?
        var lastID: UInt64 = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Wakes the waiter, or the next `wait()` when none waits. Signals before a wait coalesce.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.closed else { return nil }
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: true)
    }

    /// Ends the current wait and every later one with false.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter?.continuation
        }
        waiter?.resume(returning: false)
    }

    /// True once signalled; false when closed or when the calling task is cancelled.
    func wait() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.lastID &+= 1
            return state.lastID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = state.withLock { state -> Bool? in
                    // Checked under the lock: a cancellation before the waiter is registered
                    // is seen here, one after it finds the waiter in `onCancel`.
                    if state.closed || Task.isCancelled { return false }
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    precondition(state.waiter == nil, "a WakeSignal has one waiter at a time")
                    state.waiter = (id, continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(returning: false)
        }
    }
}
