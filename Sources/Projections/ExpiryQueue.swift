import IdentityModel

/// Join tokens ordered by expiry: a binary min-heap on (expiresAt, token hash), so pruning
/// expired tokens costs O(expired · log n) instead of a scan of every token on each create.
///
/// Derived from `IdentityState.joinTokens` (one element per token), never stored. Two queues
/// are equal when they hold the same elements, whatever their heap layout: a replayed state and
/// a restored one build the heap in different orders.
struct ExpiryQueue: Sendable {
    struct Element: Hashable, Sendable {
        var expiresAt: Timestamp
        var token: SHA256Digest

        func precedes(_ other: Element) -> Bool {
            expiresAt != other.expiresAt
                ? expiresAt < other.expiresAt : token.bytes.lexicographicallyPrecedes(other.token.bytes)
        }
    }

    private var heap: [Element] = []

    var count: Int { heap.count }

    mutating func insert(_ element: Element) {
        heap.append(element)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns every element expiring at or before `now`, earliest first.
    mutating func removeExpired(at now: Timestamp) -> [Element] {
        var expired: [Element] = []
        while let first = heap.first, first.expiresAt <= now {
            expired.append(first)
            let last = heap.removeLast()
            guard !heap.isEmpty else { break }
            heap[0] = last
            siftDown(from: 0)
        }
        return expired
    }

    /// How many elements expire at or before `now`, without removing them.
    func countExpired(at now: Timestamp) -> Int {
        var count = 0
        var pending = heap.isEmpty ? [] : [0]
        while let index = pending.popLast() {
            guard heap[index].expiresAt <= now else { continue }
            count += 1
            for child in [2 * index + 1, 2 * index + 2] where child < heap.count { pending.append(child) }
        }
        return count
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
            if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

extension ExpiryQueue: Equatable {
    static func == (lhs: ExpiryQueue, rhs: ExpiryQueue) -> Bool {
        lhs.heap.count == rhs.heap.count && Set(lhs.heap) == Set(rhs.heap)
    }
}
