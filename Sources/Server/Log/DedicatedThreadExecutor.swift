import Dispatch
import Foundation
import Synchronization

/// A task executor with one thread of its own, for the log driver.
///
/// The driver blocks in `fdatasync` on every commit. On the cooperative pool (one thread per
/// core) that takes a core away from request handling for the whole flush; on its own thread
/// the pool keeps checking CSRs and signing meanwhile (docs/benchmarks.md: ~15% less CPU per
/// signed SVID). Jobs run one at a time in the order they came. Only the driver's loop and its
/// ticker prefer this executor, and a task has at most one job queued, so the queue holds a
/// handful of jobs at most.
final class DedicatedThreadExecutor: TaskExecutor, Sendable {
    private struct Queue {
        var jobs: [UnownedJob] = []
        var head = 0
        var stopped = false
    }

    private let queue = Mutex(Queue())
    /// One signal per job enqueued, plus one for `stop()`.
    private let available = DispatchSemaphore(value: 0)

    /// `name` names the thread for `ps` and profilers; Linux keeps at most 15 bytes of it.
    init(name: String) {
        Thread { [self] in
            Thread.current.name = name
            runJobs()
        }.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let accepted = queue.withLock { queue -> Bool in
            guard !queue.stopped else { return false }
            queue.jobs.append(unowned)
            return true
        }
        if accepted {
            available.signal()
        } else {
            // Only tasks started inside the driver's preference scope come here, and they have
            // ended before `stop()`; should one still resume, it runs on the shared pool.
            globalConcurrentExecutor.enqueue(unowned)
        }
    }

    /// Lets the thread end once the jobs enqueued so far have run.
    func stop() {
        queue.withLock { $0.stopped = true }
        available.signal()
    }

    private func runJobs() {
        while true {
            available.wait()
            let next = queue.withLock { queue -> UnownedJob?? in
                guard queue.head < queue.jobs.count else { return queue.stopped ? .some(nil) : nil }
                defer {
                    queue.head += 1
                    if queue.head == queue.jobs.count {
                        queue.jobs.removeAll(keepingCapacity: true)
                        queue.head = 0
                    }
                }
                return queue.jobs[queue.head]
            }
            switch next {
            case .some(.some(let job)): job.runSynchronously(on: asUnownedTaskExecutor())
            case .some(.none): return
            case .none: continue
            }
        }
    }
}
