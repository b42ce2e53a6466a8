import Attestation
import Config
import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
import PeerTracking
#endif

/// SPIRE's `unix` workload attestor: turns the calling process into selectors.
///
/// The PID from `SO_PEERCRED` can be reused once its process exits (RELIABILITY.md §4). The
/// attestor therefore reads the start time first, reads everything else, and then requires
/// that the caller is still alive (its pidfd has not fired) and that the start time is
/// unchanged; otherwise the caller is refused and no selectors are returned.
public struct UnixWorkloadAttestor: Sendable {
    public let options: AgentConfig.UnixWorkloadAttestor
    /// Where `/proc` is mounted (tests point it elsewhere).
    let procRoot: String

    public init(options: AgentConfig.UnixWorkloadAttestor, procRoot: String = "/proc") {
        self.options = options
        self.procRoot = procRoot
    }

    /// The selectors of the process behind `peer`.
    public func attest(_ peer: PeerConnection) throws(AttestationError) -> [(type: String, value: String)] {
        try attest(pid: peer.pid, isAlive: { peer.isAlive })
    }

    func attest(pid: Int32, isAlive: () -> Bool) throws(AttestationError) -> [(type: String, value: String)] {
        let before = try ProcStat(parsing: try read("\(pid)/stat"))
        let status = try ProcStatus(parsing: try read("\(pid)/status"))
        var facts = UnixProcessFacts(
            status: status,
            userName: Self.userName(status.effectiveUID),
            groupName: Self.groupName(status.effectiveGID))
        for gid in Set(status.groups) {
            if let name = Self.groupName(gid) { facts.supplementaryGroupNames[gid] = name }
        }
        if options.discoverWorkloadPath {
            facts.executablePath = try executablePath(pid)
            if options.workloadSizeLimit >= 0 {
                facts.executableSHA256 = try executableDigest(pid)
            }
        }
        let after = try ProcStat(parsing: try read("\(pid)/stat"))
        guard isAlive(), after.startTime == before.startTime else {
            throw AttestationError(.processChanged, "process \(pid) exited or was replaced during attestation")
        }
        return UnixSelectors.selectors(for: facts)
    }

    private func read(_ relativePath: String) throws(AttestationError) -> String {
        guard let data = FileManager.default.contents(atPath: "\(procRoot)/\(relativePath)") else {
            throw AttestationError(.processChanged, "cannot read \(procRoot)/\(relativePath): the process is gone")
        }
        return String(decoding: data.prefix(Attestation.Limits.procFileBytesMax + 1), as: UTF8.self)
    }

    private func executablePath(_ pid: Int32) throws(AttestationError) -> String {
        do {
            return try FileManager.default.destinationOfSymbolicLink(atPath: "\(procRoot)/\(pid)/exe")
        } catch {
            throw AttestationError(.processChanged, "cannot read the executable of process \(pid)")
        }
    }

    /// Hashes the running executable through `/proc/<pid>/exe` (the inode the process runs, not
    /// whatever is at its path now), refusing files over `workload_size_limit` (0: no limit).
    private func executableDigest(_ pid: Int32) throws(AttestationError) -> String {
        guard let handle = FileHandle(forReadingAtPath: "\(procRoot)/\(pid)/exe") else {
            throw AttestationError(.processChanged, "cannot open the executable of process \(pid)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var total = 0
        let limit = options.workloadSizeLimit
        while true {
            let chunk: Data
            do {
                chunk = try handle.read(upToCount: 1 << 20) ?? Data()
            } catch {
                throw AttestationError(.processChanged, "cannot read the executable of process \(pid)")
            }
            if chunk.isEmpty { break }
            total += chunk.count
            if limit > 0 && total > limit {
                throw AttestationError(.tooLarge, "the workload executable is larger than workload_size_limit (\(limit) bytes)")
            }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func userName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.pw_name else {
            return nil
        }
        return String(cString: name)
    }

    static func groupName(_ gid: UInt32) -> String? {
        var entry = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getgrgid_r(gid, &entry, &buffer, buffer.count, &result) == 0, result != nil, let name = entry.gr_name else {
            return nil
        }
        return String(cString: name)
    }
}
