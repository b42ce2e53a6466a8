@testable import Agent
import Attestation
import Config
import Crypto
import Foundation
import Testing

@Suite("Unix workload attestor")
struct UnixWorkloadAttestorTests {
    @Test("this process: effective uid/gid selectors, names when the system knows them")
    func ownProcess() throws {
        let attestor = UnixWorkloadAttestor(options: .init())
        let selectors = try attestor.attest(pid: getpid(), isAlive: { true }).map { "\($0.type):\($0.value)" }
        #expect(selectors.contains("unix:uid:\(geteuid())"))
        #expect(selectors.contains("unix:gid:\(getegid())"))
        if geteuid() == 0 { #expect(selectors.contains("unix:user:root")) }
        #expect(!selectors.contains { $0.hasPrefix("unix:path:") })
    }

    @Test("discover_workload_path adds the path and the SHA-256 of the running executable")
    func pathAndDigest() throws {
        let attestor = UnixWorkloadAttestor(options: .init(discoverWorkloadPath: true, workloadSizeLimit: 0))
        let selectors = try attestor.attest(pid: getpid(), isAlive: { true })
        let path = try #require(selectors.first { $0.value.hasPrefix("path:") }?.value.dropFirst(5))
        #expect(path == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))[...])
        let digest = try #require(selectors.first { $0.value.hasPrefix("sha256:") }?.value.dropFirst(7))
        let expected = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: String(path))))
        #expect(digest == expected.map { String(format: "%02x", $0) }.joined()[...])
    }

    @Test("a negative size limit disables hashing; a small positive one refuses the workload")
    func sizeLimit() throws {
        let noHash = UnixWorkloadAttestor(options: .init(discoverWorkloadPath: true, workloadSizeLimit: -1))
        #expect(!(try noHash.attest(pid: getpid(), isAlive: { true })).contains { $0.value.hasPrefix("sha256:") })
        let tiny = UnixWorkloadAttestor(options: .init(discoverWorkloadPath: true, workloadSizeLimit: 1024))
        #expect(throws: AttestationError(.tooLarge, "")) { try tiny.attest(pid: getpid(), isAlive: { true }) }
    }

    @Test("a caller that died during attestation is refused")
    func deadCaller() {
        let attestor = UnixWorkloadAttestor(options: .init())
        #expect(throws: AttestationError(.processChanged, "")) { try attestor.attest(pid: getpid(), isAlive: { false }) }
        #expect(throws: AttestationError(.processChanged, "")) { try attestor.attest(pid: Int32.max - 1, isAlive: { true }) }
    }
}
