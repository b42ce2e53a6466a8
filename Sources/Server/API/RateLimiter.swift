import Foundation
import Synchronization

/// SPIRE's per-caller rate limits on the agent API: node attestation at 1 per second and SVID
/// signing at 500 per second for each caller address. Like SPIRE's limiter, a caller over the
/// limit waits (its request is delayed, not refused), so an honest agent that bursts still gets
/// its SVIDs and a flood from one address cannot crowd out the others.
///
/// Token buckets per address; the table is bounded (least recently refilled buckets are
/// dropped first, which only ever gives a caller a fresh, full bucket).
public final class RateLimiter: Sendable {
    public let ratePerSecond: Double
    public let burst: Double
    private let buckets = Mutex<[String: Bucket]>([:])
    static let addressesMax = 65_536
    /// A request that would wait longer than this is refused instead (ResourceExhausted).
    static let waitMax: Duration = .seconds(30)

    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public init(ratePerSecond: Double, burst: Double) {
        precondition(ratePerSecond > 0 && burst >= 1, "a limiter admits at least one request")
        self.ratePerSecond = ratePerSecond
        self.burst = burst
    }

    /// Waits until `cost` requests from `address` are admitted. Throws when the wait would
    /// exceed `waitMax` (the caller is far over its rate) or the task is cancelled.
    public func admit(_ address: String, cost: Int = 1) async throws {
        let delay = reserve(address, cost: Double(max(cost, 1)))
        guard delay <= Self.waitMax else { throw RateLimitExceeded(address: address) }
        if delay > .zero { try await Task.sleep(for: delay) }
    }

    /// Takes the tokens now (the balance may go negative: later callers wait behind this one)
    /// and returns how long this caller must wait for them.
    private func reserve(_ address: String, cost: Double) -> Duration {
        let now = ContinuousClock.now
        return buckets.withLock { buckets in
            if buckets[address] == nil, buckets.count >= Self.addressesMax {
                let oldest = buckets.min { $0.value.updated < $1.value.updated }?.key
                if let oldest { buckets[oldest] = nil }
            }
            var bucket = buckets[address] ?? Bucket(tokens: burst, updated: now)
            let elapsed = now - bucket.updated
            bucket.tokens = min(burst, bucket.tokens + elapsed.inSeconds * ratePerSecond)
            bucket.updated = now
            let waitSeconds = bucket.tokens >= cost ? 0 : (cost - bucket.tokens) / ratePerSecond
            if waitSeconds <= 30 { bucket.tokens -= cost }
            buckets[address] = bucket
            return .milliseconds(Int64((waitSeconds * 1000).rounded(.up)))
        }
    }

    /// The address part of a gRPC `remotePeer` ("ipv4:127.0.0.1:5555" → "ipv4:127.0.0.1").
    public static func address(ofPeer peer: String) -> String {
        guard let colon = peer.lastIndex(of: ":"), peer.hasPrefix("ipv") else { return peer }
        return String(peer[..<colon])
    }
}

public struct RateLimitExceeded: Error, CustomStringConvertible {
    public let address: String
    public var description: String { "rate limit exceeded for \(address)" }
}
