#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few POSIX file operations LogStore needs, with the fsyncs durability requires.
enum FileSystem {
    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    static func closeDescriptor(_ descriptor: Int32) {
        _ = close(descriptor)
    }

    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` with mode 0700 if it is missing and makes the new name durable by
    /// fsyncing the parent (etcd #6368: a new file or directory is not durable until its
    /// directory entry is).
    static func makeDirectory(_ path: String) throws {
        if isDirectory(path) { return }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw LogStoreError.system("mkdir \(path)")
        }
        try fsyncDirectory(parent(of: path))
    }

    /// Bytes this process may still write on the file system holding `path` (root may use the
    /// reserved blocks too).
    static func availableBytes(_ path: String) -> Int? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        let blocks = getuid() == 0 ? info.f_bfree : info.f_bavail
        return Int(clamping: UInt64(blocks) &* UInt64(info.f_frsize))
    }

    static func fsyncDirectory(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LogStoreError.system("open directory \(path)") }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 { throw LogStoreError.system("fsync directory \(path)") }
    }

    static func fsyncFile(_ path: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LogStoreError.system("open \(path)") }
        defer { close(descriptor) }
        if fsync(descriptor) != 0 { throw LogStoreError.system("fsync \(path)") }
    }

    /// Removes `path` if present and fsyncs its directory so the removal is durable.
    static func removeFile(_ path: String) throws {
        if unlink(path) != 0 {
            if errno == ENOENT { return }
            throw LogStoreError.system("unlink \(path)")
        }
        try fsyncDirectory(parent(of: path))
    }

    /// Writes `bytes` to a temporary name, fsyncs it, renames it over `path`, fsyncs the
    /// directory: after a crash the file is either the old one or the complete new one.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LogStoreError.system("create \(temporary)") }
        var failure: LogStoreError?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = LogStoreError.system("write \(temporary)")
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = LogStoreError.system("fsync \(temporary)") }
        close(descriptor)
        if let failure { throw failure }
        if rename(temporary, path) != 0 { throw LogStoreError.system("rename \(temporary)") }
        try fsyncDirectory(parent(of: path))
    }

    /// Reads a whole file in chunks, handing each chunk to `body`. Returns false if it is missing.
    static func readChunks(_ path: String, chunkBytes: Int,
                           _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool
    {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        if descriptor < 0 {
            if errno == ENOENT { return false }
            throw LogStoreError.system("open \(path)")
        }
        defer { close(descriptor) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            var filled = 0
            while filled < chunkBytes {
                let count = read(descriptor, buffer.baseAddress! + filled, chunkBytes - filled)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw LogStoreError.system("read \(path)")
                }
                if count == 0 { break }
                filled += count
            }
            if filled > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[0..<filled])) }
            if filled < chunkBytes { return true }
        }
    }

    static func readAll(_ path: String, bytesMax: Int) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        let found = try readChunks(path, chunkBytes: 1 << 16) { chunk in
            guard bytes.count + chunk.count <= bytesMax else {
                throw LogStoreError.limitExceeded("\(path) is larger than \(bytesMax) bytes")
            }
            bytes.append(contentsOf: chunk)
        }
        return found ? bytes : nil
    }
}
