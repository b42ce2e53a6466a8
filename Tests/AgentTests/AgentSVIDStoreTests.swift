import Agent
import Config
import Foundation
import SPIFFE
import Testing

/// `AgentSVIDStore` under both KeyManagers: what survives a restart, file modes, and which broken
/// files stop the agent (the key) and which only make it attest again (the chain).
@Suite("Agent SVID store and KeyManager disk/memory")
struct AgentSVIDStoreTests {
    let authority: TestAuthority
    let root: String

    init() throws {
        authority = try TestAuthority("example.org")
        root = try AgentHarness.temporaryDirectory()
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }

    @Test("disk: the key lives in the KeyManager directory (0700, file 0600) and the SVID loads back whole")
    func diskRoundTrip() throws {
        defer { remove() }
        // Directories that exist with loose modes are tightened, not trusted.
        try FileManager.default.createDirectory(atPath: root + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let store = AgentSVIDStore(directory: root + "/data", keyManager: .disk(directory: root + "/keys"))
        #expect(try store.load() == .nothing)
        let svid = try authority.svid("/spire/agent/join_token/t")
        try store.save(svid, reattestable: true)
        #expect(try store.load() == .svid(.init(svid: svid, reattestable: true)))
        #expect(AgentRuntimeTests.mode(root + "/keys") == 0o700)
        #expect(AgentRuntimeTests.mode(root + "/keys/agent_svid.key") == 0o600)
        #expect(AgentRuntimeTests.mode(root + "/data") == 0o700)
        #expect(AgentRuntimeTests.mode(root + "/data/agent_svid.pem") == 0o600)
        #expect(!FileManager.default.fileExists(atPath: root + "/data/agent_svid.key"))
        try store.saveBundle(authority.x509Bundle)
        #expect(try store.loadBundle(trustDomain: authority.trustDomain) == authority.x509Bundle)

        store.remove()
        #expect(!FileManager.default.fileExists(atPath: root + "/keys/agent_svid.key"))
        #expect(try store.load() == .nothing)
    }

    @Test("memory: no key file is written, so a restart finds the chain without its key")
    func memoryLosesKey() throws {
        defer { remove() }
        let store = AgentSVIDStore(directory: root + "/data", keyManager: .memory)
        try store.save(try authority.svid("/spire/agent/join_token/t"), reattestable: false)
        let files = try FileManager.default.contentsOfDirectory(atPath: root + "/data")
        #expect(!files.contains { $0.hasSuffix(".key") }, "\(files)")
        guard case .chainWithoutKey(let reason) = try store.load() else {
            Issue.record("expected the chain without its key")
            return
        }
        #expect(reason.contains("KeyManager \"memory\""))
    }

    @Test("a key file that is not a key, or is readable by others, is an error naming it (the agent must not start)")
    func badKeyFile() throws {
        defer { remove() }
        let keyDirectory = root + "/keys"
        let keyPath = keyDirectory + "/agent_svid.key"
        let store = AgentSVIDStore(directory: root + "/data", keyManager: .disk(directory: keyDirectory))
        try store.save(try authority.svid("/spire/agent/join_token/t"), reattestable: false)

        #expect(chmod(keyPath, 0o644) == 0)
        let open = try #require(Self.storeError { try store.load() })
        #expect(open.isKeyFileFault)
        #expect(open.description.contains(keyPath) && open.description.contains("mode 0644"), "\(open)")

        try "garbage".write(toFile: keyPath, atomically: false, encoding: .utf8)
        #expect(chmod(keyPath, 0o600) == 0)
        let garbage = try #require(Self.storeError { try store.load() })
        #expect(garbage.isKeyFileFault)
        #expect(garbage.description.contains(keyPath) && garbage.description.contains("not a PEM private key"), "\(garbage)")
    }

    @Test("a chain whose key does not match, or a corrupt chain, is unusable but not the key's fault; a lone key is nothing")
    func badChain() throws {
        defer { remove() }
        let store = AgentSVIDStore(directory: root + "/data", keyManager: .disk(directory: root + "/data"))
        try store.save(try authority.svid("/spire/agent/join_token/t"), reattestable: false)
        // A crash between the key write and the chain write leaves a new key beside the old chain.
        let other = try authority.svid("/spire/agent/join_token/t")
        try Self.writePrivate(other.privateKey.pemEncoded(), to: root + "/data/agent_svid.key")
        let mismatch = try #require(Self.storeError { try store.load() })
        #expect(!mismatch.isKeyFileFault && mismatch.description.contains(root + "/data/agent_svid.pem"), "\(mismatch)")
        try "not PEM".write(toFile: root + "/data/agent_svid.pem", atomically: true, encoding: .utf8)
        #expect(Self.storeError { try store.load() }?.isKeyFileFault == false)
        try FileManager.default.removeItem(atPath: root + "/data/agent_svid.pem")
        #expect(try store.load() == .nothing)
        // The chain without the disk key (removed by hand): attest again.
        try store.save(other, reattestable: false)
        try FileManager.default.removeItem(atPath: root + "/data/agent_svid.key")
        guard case .chainWithoutKey(let reason) = try store.load() else {
            Issue.record("expected the chain without its key")
            return
        }
        #expect(reason.contains("agent_svid.key is missing"))
    }

    static func storeError(_ body: () throws -> Any) -> AgentSVIDStore.StoreError? {
        do {
            _ = try body()
            return nil
        } catch {
            return error as? AgentSVIDStore.StoreError
        }
    }

    static func writePrivate(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        precondition(chmod(path, 0o600) == 0)
    }
}
