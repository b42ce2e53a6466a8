import Config
import Foundation
import KeyStore
import SPIFFE
import X509

#if canImport(Glibc)
import Glibc
#endif

/// The agent's identity on disk, so a restart does not attest again (SPIRE keeps `agent-data.json`
/// with the SVID and bundle under `data_dir`, and the key in its KeyManager):
///
/// - `data_dir/agent_svid.pem`: the agent X509-SVID chain, leaf first;
/// - `data_dir/agent_svid.reattestable`: present when the server said the agent may attest again;
/// - `data_dir/bundle.pem`: the last trust bundle received, used to authenticate the server next time;
/// - with `KeyManager "disk"`, `<directory>/agent_svid.key`: the chain's PKCS#8 key. With
///   `KeyManager "memory"` the key lives only in the process, so after a restart the chain is
///   found without its key and the agent must attest again (SPIRE's "SVID recovered, but no keys
///   found").
///
/// Directories are made 0700 and every file is written atomically (temporary file, fsync,
/// rename) with mode 0600 whatever the umask. The key is written before the chain so a crash in
/// between leaves a chain whose key does not match, which `load` reports as an unusable SVID (the
/// agent then attests again) rather than a silent mismatch. A key file that is unreadable, not a
/// private key, or readable by others is the operator's to look at: `load` throws an error that
/// names it and the agent does not start (SPIRE's disk KeyManager fails to configure).
public struct AgentSVIDStore: Sendable {
    public let directory: String
    public let keyManager: AgentConfig.KeyManager

    public init(directory: String, keyManager: AgentConfig.KeyManager) {
        self.directory = directory
        self.keyManager = keyManager
    }

    public struct Stored: Sendable, Equatable {
        public let svid: X509SVID
        public let reattestable: Bool

        public init(svid: X509SVID, reattestable: Bool) {
            self.svid = svid
            self.reattestable = reattestable
        }
    }

    /// What a start finds on disk.
    public enum Recovered: Sendable, Equatable {
        case nothing
        case svid(Stored)
        /// The chain is stored but its key is not (KeyManager "memory" after a restart, or the
        /// key file was removed): the agent must attest again.
        case chainWithoutKey(reason: String)
    }

    public struct StoreError: Error, CustomStringConvertible, Sendable {
        public let description: String
        /// The agent's key file itself is at fault (unreadable, not a key, too open): an operator
        /// must look at it, so the agent stops instead of attesting again over it.
        public let isKeyFileFault: Bool
        init(_ description: String, isKeyFileFault: Bool = false) {
            self.description = description
            self.isKeyFileFault = isKeyFileFault
        }
    }

    var svidPath: String { directory + "/agent_svid.pem" }
    var reattestablePath: String { directory + "/agent_svid.reattestable" }
    var bundlePath: String { directory + "/bundle.pem" }
    /// The key file, or nil when the key is kept in memory only.
    var keyPath: String? {
        switch keyManager {
        case .memory: nil
        case .disk(let keyDirectory): keyDirectory + "/agent_svid.key"
        }
    }

    /// The stored SVID and key. A chain that cannot be read (bad PEM, key mismatch, too large)
    /// is an error naming the file; the caller decides whether to attest again.
    public func load() throws(StoreError) -> Recovered {
        let key = try loadKey()
        guard FileManager.default.fileExists(atPath: svidPath) else { return .nothing }
        guard let key else {
            return .chainWithoutKey(
                reason: keyPath.map { "\($0) is missing" }
                    ?? "KeyManager \"memory\" keeps the agent key only in memory, so it did not survive the restart")
        }
        do {
            let chain = try CertificateCoding.certificates(pem: try Self.readText(svidPath))
            guard chain.count <= Limits.svidChainCertificatesMax else {
                throw StoreError("\(svidPath) holds \(chain.count) certificates, more than \(Limits.svidChainCertificatesMax)")
            }
            let svid = try X509SVID(certificates: chain, privateKey: key)
            return .svid(Stored(svid: svid, reattestable: FileManager.default.fileExists(atPath: reattestablePath)))
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("the stored agent SVID \(svidPath) is unusable with its key: \(error)")
        }
    }

    /// The key under the disk KeyManager's directory, nil when there is none (or with "memory").
    func loadKey() throws(StoreError) -> SVIDPrivateKey? {
        guard let keyPath, FileManager.default.fileExists(atPath: keyPath) else { return nil }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: keyPath),
            let mode = (attributes[.posixPermissions] as? Int).map({ $0 & 0o777 })
        else {
            throw StoreError("cannot read the agent key \(keyPath)", isKeyFileFault: true)
        }
        guard mode & 0o077 == 0 else {
            throw StoreError(
                "the agent key \(keyPath) has mode 0\(String(mode, radix: 8)); a private key must be readable by its owner only "
                    + "(chmod 600 \(keyPath))", isKeyFileFault: true)
        }
        do {
            return try SVIDPrivateKey(parsing: try Self.readText(keyPath))
        } catch let error as StoreError {
            throw StoreError(error.description, isKeyFileFault: true)
        } catch {
            throw StoreError("the agent key \(keyPath) is not a PEM private key: \(error)", isKeyFileFault: true)
        }
    }

    public func save(_ svid: X509SVID, reattestable: Bool) throws(StoreError) {
        try Self.ensurePrivateDirectory(directory)
        let pem: (certificates: String, privateKey: String)
        do {
            pem = try svid.pemEncoded()
        } catch {
            throw StoreError("cannot encode the agent SVID: \(error)")
        }
        if let keyPath {
            try Self.ensurePrivateDirectory((keyPath as NSString).deletingLastPathComponent)
            try Self.write(Array(pem.privateKey.utf8), to: keyPath)
        }
        try Self.write(Array(pem.certificates.utf8), to: svidPath)
        if reattestable {
            try Self.write(Array("true\n".utf8), to: reattestablePath)
        } else {
            unlink(reattestablePath)
        }
    }

    /// Forgets the agent SVID and its key (the server refused it and the agent cannot attest again).
    public func remove() {
        for path in [svidPath, reattestablePath] + (keyPath.map { [$0] } ?? []) { unlink(path) }
    }

    public func loadBundle(trustDomain: TrustDomain) throws(StoreError) -> X509Bundle? {
        guard FileManager.default.fileExists(atPath: bundlePath) else { return nil }
        let text = try Self.readText(bundlePath)
        do {
            return try X509Bundle(trustDomain: trustDomain, pemEncoded: text)
        } catch {
            throw StoreError("the stored bundle \(bundlePath) is unusable: \(error)")
        }
    }

    public func saveBundle(_ bundle: X509Bundle) throws(StoreError) {
        try Self.ensurePrivateDirectory(directory)
        do {
            try Self.write(Array(try bundle.pemEncoded().utf8), to: bundlePath)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot encode the bundle: \(error)")
        }
    }

    /// Creates `directory` if needed and makes it 0700 (it holds an identity), whatever the umask.
    static func ensurePrivateDirectory(_ directory: String) throws(StoreError) {
        do { try PrivateFiles.ensureDirectory(directory) } catch { throw StoreError(error.message) }
    }

    static func readText(_ path: String) throws(StoreError) -> String {
        guard let text = String(validating: try readBytes(path, bytesMax: Limits.persistedFileBytesMax), as: UTF8.self) else {
            throw StoreError("\(path) is not UTF-8 text")
        }
        return text
    }

    /// The bytes of `path`, refused when larger than `bytesMax` (checked before reading).
    public static func readBytes(_ path: String, bytesMax: Int) throws(StoreError) -> [UInt8] {
        do { return try PrivateFiles.read(path, bytesMax: bytesMax) } catch { throw StoreError(error.message) }
    }

    /// Writes so that a crash leaves the old or the new contents and the file is never readable
    /// by others, even for a moment.
    static func write(_ bytes: [UInt8], to path: String) throws(StoreError) {
        do { try PrivateFiles.writeAtomically(bytes, to: path) } catch { throw StoreError(error.message) }
    }
}
