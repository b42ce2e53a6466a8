import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The file handling every holder of identity material shares (the server's key store, the
/// agent's SVID store, configured PEM files): private directories, crash-safe private writes and
/// bounded reads. Errors name the path.
public enum PrivateFiles {
    /// Creates `directory` if needed and makes it 0700 whatever the umask (SPIRE's SPI-01-002
    /// shipped keys world-readable).
    public static func ensureDirectory(_ directory: String) throws(KeyStoreError) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw KeyStoreError(message: "cannot create \(directory): \(error)")
            }
        } else if !isDirectory.boolValue {
            throw KeyStoreError(message: "\(directory) exists and is not a directory")
        }
        guard chmod(directory, 0o700) == 0 else {
            throw KeyStoreError(message: "\(directory): cannot set mode 0700: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `bytes` to `path` so that a crash leaves the old or the new contents, never a mix,
    /// and the file is never readable by others, even for a moment: a temporary file created
    /// 0600, fsynced, renamed over the old one, then the directory fsynced.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(KeyStoreError) {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyStoreError(message: "\(temporary): \(String(cString: strerror(errno)))") }
        var failure: String?
        if fchmod(fd, 0o600) != 0 { failure = "fchmod" }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = "write"
            } else {
                offset += written
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync" }
        let error = errno
        close(fd)
        if let failure {
            unlink(temporary)
            throw KeyStoreError(message: "\(temporary): \(failure) failed: \(String(cString: strerror(error)))")
        }
        guard rename(temporary, path) == 0 else {
            throw KeyStoreError(message: "\(path): rename failed: \(String(cString: strerror(errno)))")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 {
            fsync(directoryFD)
            close(directoryFD)
        }
    }

    /// The bytes of `path`, refused when it holds more than `bytesMax` (only `bytesMax + 1` are
    /// ever read, so a huge or endless file costs nothing).
    public static func read(_ path: String, bytesMax: Int) throws(KeyStoreError) -> [UInt8] {
        guard let file = FileHandle(forReadingAtPath: path) else {
            throw KeyStoreError(message: "\(path): cannot open the file (missing or unreadable)")
        }
        defer { try? file.close() }
        let data: Data
        do {
            data = try file.read(upToCount: bytesMax + 1) ?? Data()
        } catch {
            throw KeyStoreError(message: "\(path): \(error)")
        }
        guard data.count <= bytesMax else { throw KeyStoreError(message: "\(path) is larger than \(bytesMax) bytes") }
        return Array(data)
    }
}
