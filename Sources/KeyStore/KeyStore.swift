import Config
import Crypto
import Foundation
import SwiftASN1
import Synchronization
import X509
import _CryptoExtras

#if canImport(Glibc)
import Glibc
#endif

/// The key types of SPIRE's `ca_key_type` and `jwt_key_type` (defined with the configuration).
public typealias KeyType = ServerConfig.KeyType

extension ServerConfig.KeyType {
    /// A fresh key from the system's secure random source.
    public func generate() throws -> Certificate.PrivateKey {
        switch self {
        case .ecP256: Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .ecP384: Certificate.PrivateKey(P384.Signing.PrivateKey())
        case .rsa2048: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa4096: Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
    }
}

public struct KeyStoreError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// Named private keys, kept in memory or on disk — SPIRE's `KeyManager "memory"` and
/// `KeyManager "disk"`. A key is generated once under its name and then reused, so a restarted
/// server keeps its CA keys and a restarted agent its SVID key.
public protocol KeyStore: Sendable {
    func key(named name: String) -> Certificate.PrivateKey?
    /// Returns the key under `name`, generating and storing one of `type` if there is none.
    func key(named name: String, creatingIfMissing type: KeyType) throws -> Certificate.PrivateKey
    func removeKey(named name: String) throws
}

public final class MemoryKeyStore: KeyStore {
    private let keys = Mutex<[String: Certificate.PrivateKey]>([:])

    public init() {}

    public func key(named name: String) -> Certificate.PrivateKey? { keys.withLock { $0[name] } }

    public func key(named name: String, creatingIfMissing type: KeyType) throws -> Certificate.PrivateKey {
        if let existing = key(named: name) { return existing }
        let created = try type.generate()
        return keys.withLock { keys in
            if let raced = keys[name] { return raced }
            keys[name] = created
            return created
        }
    }

    public func removeKey(named name: String) throws { _ = keys.withLock { $0.removeValue(forKey: name) } }
}

/// Keys in one file of PEM `PRIVATE KEY` blocks, each preceded by a `# name` line.
///
/// The file is written whole to a temporary file created 0600 (whatever the umask), fsynced,
/// renamed over the old one, and the directory fsynced, so a crash leaves either the old or the
/// new file. Its directory is created 0700. A file or directory found with looser modes is
/// tightened on open (SPIRE's SPI-01-002 shipped CA keys world-readable).
public final class DiskKeyStore: KeyStore {
    public let path: String
    private let keys: Mutex<[String: Certificate.PrivateKey]>

    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        try PrivateFiles.ensureDirectory(directory.isEmpty ? "." : directory)
        var loaded: [String: Certificate.PrivateKey] = [:]
        if FileManager.default.fileExists(atPath: path) {
            guard chmod(path, 0o600) == 0 else {
                throw KeyStoreError(message: "\(path): cannot set mode 0600: \(String(cString: strerror(errno)))")
            }
            loaded = try Self.parse(try String(contentsOfFile: path, encoding: .utf8), path: path)
        }
        self.keys = Mutex(loaded)
    }

    public func key(named name: String) -> Certificate.PrivateKey? { keys.withLock { $0[name] } }

    public func key(named name: String, creatingIfMissing type: KeyType) throws -> Certificate.PrivateKey {
        try keys.withLock { keys in
            if let existing = keys[name] { return existing }
            let created = try type.generate()
            var updated = keys
            updated[name] = created
            try save(updated)
            keys = updated
            return created
        }
    }

    public func removeKey(named name: String) throws {
        try keys.withLock { keys in
            guard keys[name] != nil else { return }
            var updated = keys
            updated.removeValue(forKey: name)
            try save(updated)
            keys = updated
        }
    }

    private func save(_ keys: [String: Certificate.PrivateKey]) throws {
        var text = ""
        for name in keys.keys.sorted() {
            text += "# \(name)\n" + (try keys[name]!.serializeAsPEM().pemString) + "\n"
        }
        try PrivateFiles.writeAtomically(Array(text.utf8), to: path)
    }

    static func parse(_ text: String, path: String) throws -> [String: Certificate.PrivateKey] {
        var keys: [String: Certificate.PrivateKey] = [:]
        var name: String?
        var block = ""
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("# ") {
                name = String(line.dropFirst(2))
                block = ""
                continue
            }
            block += line + "\n"
            guard line.hasPrefix("-----END ") else { continue }
            guard let current = name, keys[current] == nil else {
                throw KeyStoreError(message: "\(path):\(number + 1): key block without a unique \"# name\" line")
            }
            do {
                keys[current] = try Certificate.PrivateKey(pemEncoded: block)
            } catch {
                throw KeyStoreError(message: "\(path):\(number + 1): key \"\(current)\" is not a valid PEM private key")
            }
            name = nil
            block = ""
        }
        return keys
    }
}
