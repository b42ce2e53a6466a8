import Foundation

/// Reading a file named by a flag, or stdin for `-`, never more than `limit` bytes.
enum InputFile {
    static func read(_ path: String, limit: Int) throws(CLIFailure) -> [UInt8] {
        let handle: FileHandle
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            let descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                throw CLIFailure("open \(path): \(String(cString: strerror(errno)).lowercased())")
            }
            handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        }
        let data: Data
        do {
            data = try handle.read(upToCount: limit + 1) ?? Data()
        } catch {
            throw CLIFailure("read \(path): \(error.localizedDescription)")
        }
        guard data.count <= limit else {
            throw CLIFailure("\(path == "-" ? "stdin" : path) is larger than \(limit) bytes")
        }
        return Array(data)
    }
}
