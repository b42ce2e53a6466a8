import Config
import Foundation
import KeyStore
import Testing
import X509

#if canImport(Glibc)
import Glibc
#endif

@Suite("Key stores", .serialized)
struct KeyStoreTests {
    func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-keys-\(UUID().uuidString)").path
        return path
    }

    func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
    }

    @Test("SPI-01-002: with umask 000, the key file is 0600 and its directory 0700")
    func modesUnderPermissiveUmask() throws {
        let base = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let previous = umask(0)
        defer { umask(previous) }
        let path = base + "/keys/keys.pem"
        let store = try DiskKeyStore(path: path)
        _ = try store.key(named: "x509-ca-a", creatingIfMissing: .ecP256)
        #expect(try mode(path) == 0o600)
        #expect(try mode(base + "/keys") == 0o700)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
    }

    @Test("keys survive a reopen, and each type round-trips")
    func persistence() throws {
        let base = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/keys.pem"
        let store = try DiskKeyStore(path: path)
        var created: [String: Certificate.PublicKey] = [:]
        for type in KeyType.allCases where type != .rsa4096 {
            created[type.rawValue] = try store.key(named: type.rawValue, creatingIfMissing: type).publicKey
        }
        #expect(try store.key(named: "ec-p256", creatingIfMissing: .ecP256).publicKey == created["ec-p256"])
        let reopened = try DiskKeyStore(path: path)
        for (name, publicKey) in created { #expect(reopened.key(named: name)?.publicKey == publicKey) }
        try reopened.removeKey(named: "ec-p384")
        #expect(try DiskKeyStore(path: path).key(named: "ec-p384") == nil)
    }

    @Test("a loose mode found on disk is tightened; a damaged file is a clear error naming its line")
    func existingFiles() throws {
        let base = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let path = base + "/keys.pem"
        _ = try DiskKeyStore(path: path).key(named: "a", creatingIfMissing: .ecP256)
        chmod(path, 0o644)
        _ = try DiskKeyStore(path: path)
        #expect(try mode(path) == 0o600)
        try "# a\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect { try DiskKeyStore(path: path) } throws: { "\($0)".contains("keys.pem:4") }
    }

    @Test("the memory store hands out the same key for a name until it is removed")
    func memory() throws {
        let store = MemoryKeyStore()
        let first = try store.key(named: "k", creatingIfMissing: .ecP256)
        #expect(try store.key(named: "k", creatingIfMissing: .ecP384) == first)
        try store.removeKey(named: "k")
        #expect(store.key(named: "k") == nil)
    }
}
