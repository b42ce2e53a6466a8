import Testing

@testable import Server

@Suite("Pooled random")
struct PooledRandomTests {
    @Test("words across refills are distinct and every bit is set about half the time")
    func looksUniform() {
        var random = PooledRandom()
        let words = (0..<10_000).map { _ in random.next() }
        #expect(Set(words).count == words.count)
        for bit in 0..<64 {
            let ones = words.filter { $0 >> UInt64(bit) & 1 == 1 }.count
            // 10,000 fair coin flips land within ±7 standard deviations of 5,000 practically always.
            #expect((4_650...5_350).contains(ones), "bit \(bit) set \(ones) times")
        }
    }
}
