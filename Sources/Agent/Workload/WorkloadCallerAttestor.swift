import Attestation
import GRPCCore
import PeerTracking

/// Tells which workload is calling: the peer tracker names the connecting process, the unix
/// workload attestor turns it into selectors. Anything that goes wrong is Unavailable
/// ("workload attestation failed", SPIRE's words), which clients retry.
public struct WorkloadCallerAttestor: Sendable {
    public let tracker: PeerTracker
    public let attestor: UnixWorkloadAttestor

    public init(tracker: PeerTracker, attestor: UnixWorkloadAttestor) {
        self.tracker = tracker
        self.attestor = attestor
    }

    public func selectors(for metadata: Metadata) throws(WorkloadEndpointError) -> Set<WorkloadSelector> {
        guard let peer = tracker.peer(for: metadata) else {
            throw WorkloadEndpointError(.attestationFailed, "workload attestation failed: the caller's connection is not tracked")
        }
        do {
            let pairs = try attestor.attest(peer)
            return Set(pairs.map { WorkloadSelector(type: $0.type, value: $0.value) })
        } catch {
            throw WorkloadEndpointError(.attestationFailed, "workload attestation failed: \(error)")
        }
    }
}
