import Foundation
import SPIFFE
import X509

/// When SVIDs are renewed: SPIRE's agent rule of half-life (`ShouldRotateX509`), for the agent's
/// own SVID, workload X509-SVIDs and cached JWT-SVIDs alike. Pure: time comes in.
public enum SVIDRotation {
    /// The moment an SVID valid over `notBefore…notAfter` is due: halfway through its life.
    public static func renewalTime(notBefore: Date, notAfter: Date) -> Date {
        notBefore + max(0, notAfter.timeIntervalSince(notBefore)) / 2
    }

    public static func isDue(notBefore: Date, notAfter: Date, now: Date) -> Bool {
        now >= renewalTime(notBefore: notBefore, notAfter: notAfter)
    }

    public static func isDue(_ svid: X509SVID, now: Date) -> Bool {
        isDue(notBefore: svid.leaf.notValidBefore, notAfter: svid.leaf.notValidAfter, now: now)
    }
}

/// An X509-SVID the agent holds for a workload entry, with the entry fields it was minted for.
public struct HeldSVID: Hashable, Sendable {
    public let svid: X509SVID
    let mintedFor: AuthorizedEntry.MintingFields

    init(svid: X509SVID, mintedFor entry: AuthorizedEntry) {
        self.svid = svid
        self.mintedFor = entry.mintingFields
    }
}

/// Which workload entries need a new X509-SVID now, and when to look again. Pure.
public enum MintPlan {
    /// Entry IDs (sorted) whose SVID is missing, minted for an older version of the entry, or past
    /// half-life; at most `limit` of them (one batch).
    public static func entriesToMint(
        entries: [AuthorizedEntry], held: [String: HeldSVID], now: Date, limit: Int = Limits.svidBatchMax
    ) -> [String] {
        precondition(limit > 0)
        var due: [String] = []
        for entry in entries.sorted(by: { $0.id < $1.id }) {
            guard let current = held[entry.id], current.mintedFor == entry.mintingFields,
                !SVIDRotation.isDue(current.svid, now: now)
            else {
                due.append(entry.id)
                if due.count == limit { break }
                continue
            }
        }
        return due
    }

    /// The earliest half-life among held SVIDs of current entries: when a rotation next falls due.
    public static func nextRotation(entries: [AuthorizedEntry], held: [String: HeldSVID]) -> Date? {
        entries.compactMap { entry in
            held[entry.id].map { SVIDRotation.renewalTime(notBefore: $0.svid.leaf.notValidBefore, notAfter: $0.svid.expiresAt) }
        }.min()
    }
}
