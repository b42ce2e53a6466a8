import Foundation
import SPIFFE
import X509

#if canImport(Glibc)
import Glibc
#endif

/// The agent's identity on disk, under `data_dir` (mode 0700), so a restart does not attest again
/// (SPIRE keeps `agent_svid.der` and `bundle.der` there, with the key in its KeyManager):
///
/// - `agent_svid.pem`: the agent X509-SVID chain, leaf first;
/// - `agent_svid.key`: its PKCS#8 key, mode 0600;
/// - `agent_svid.reattestable`: present when the server said the agent may attest again;
/// - `bundle.pem`: the last trust bundle received, used to authenticate the server next time.
///
/// Every file is written atomically (temporary file, fsync, rename) with mode 0600. The key is
/// written before the chain so a crash in between leaves a chain whose key does not match,
/// which `load` reports as corrupt (the agent then attests again) rather than a silent mismatch.
public struct AgentSVIDStore: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public struct Stored: Sendable, Equatable {
        public let svid: X509SVID
        public let reattestable: Bool
    }

    public struct StoreError: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    var svidPath: String { directory + "/agent_svid.pem" }
    var keyPath: String { directory + "/agent_svid.key" }
    var reattestablePath: String { directory + "/agent_svid.reattestable" }
    var bundlePath: String { directory + "/bundle.pem" }

    /// The stored SVID, nil when none is stored. A stored SVID that cannot be read (bad PEM, key
    /// mismatch, unreadable, too large) is an error naming the file; the caller decides whether
    /// to attest again.
    public func load() throws(StoreError) -> Stored? {
        let haveSVID = FileManager.default.fileExists(atPath: svidPath)
        let haveKey = FileManager.default.fileExists(atPath: keyPath)
        if !haveSVID && !haveKey { return nil }
        guard haveSVID && haveKey else {
            throw StoreError("\(haveSVID ? keyPath : svidPath) is missing while \(haveSVID ? svidPath : keyPath) exists")
        }
        let chain = try Self.readText(svidPath)
        let key = try Self.readText(keyPath)
        do {
            let svid = try X509SVID(parsing: chain, privateKey: key)
            return Stored(svid: svid, reattestable: FileManager.default.fileExists(atPath: reattestablePath))
        } catch {
            throw StoreError("the stored agent SVID (\(svidPath), \(keyPath)) is unusable: \(error)")
        }
    }

    public func save(_ svid: X509SVID, reattestable: Bool) throws(StoreError) {
        try ensureDirectory()
        let pem: (certificates: String, privateKey: String)
        do {
            pem = try svid.pemEncoded()
        } catch {
            throw StoreError("cannot encode the agent SVID: \(error)")
        }
        try Self.write(Array(pem.privateKey.utf8), to: keyPath)
        try Self.write(Array(pem.certificates.utf8), to: svidPath)
        if reattestable {
            try Self.write(Array("true\n".utf8), to: reattestablePath)
        } else {
            unlink(reattestablePath)
        }
    }

    /// Forgets the agent SVID (the server refused it and the agent cannot attest again).
    public func remove() {
        for path in [svidPath, keyPath, reattestablePath] { unlink(path) }
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
        try ensureDirectory()
        do {
            try Self.write(Array(try bundle.pemEncoded().utf8), to: bundlePath)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot encode the bundle: \(error)")
        }
    }

    /// Creates the directory if needed and makes it 0700: it holds a private key.
    func ensureDirectory() throws(StoreError) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError("cannot create \(directory): \(error)")
            }
        } else if !isDirectory.boolValue {
            throw StoreError("\(directory) exists and is not a directory")
        }
        guard chmod(directory, 0o700) == 0 else {
            throw StoreError("\(directory): cannot set mode 0700: \(String(cString: strerror(errno)))")
        }
    }

    static func readText(_ path: String) throws(StoreError) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int
        else {
            throw StoreError("cannot read \(path)")
        }
        guard size <= Limits.persistedFileBytesMax else {
            throw StoreError("\(path) is larger than \(Limits.persistedFileBytesMax) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw StoreError("cannot read \(path) as UTF-8 text")
        }
        return text
    }

    /// Writes so that a crash leaves the old or the new contents and the file is never readable
    /// by others, even for a moment (the same dance as `DiskKeyStore.writeAtomically`).
    static func write(_ bytes: [UInt8], to path: String) throws(StoreError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("\(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        if fchmod(fd, 0o600) != 0 { failure = "fchmod" }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = "write"
            } else {
                offset += written
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync" }
        let code = errno
        close(fd)
        if let failure {
            unlink(temporary)
            throw StoreError("\(temporary): \(failure) failed: \(String(cString: strerror(code)))")
        }
        guard rename(temporary, path) == 0 else {
            throw StoreError("\(path): rename failed: \(String(cString: strerror(errno)))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }
}
