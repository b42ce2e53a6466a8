import Foundation
import Testing
@testable import LogStore

/// ENOSPC from a size-limited tmpfs (RELIABILITY.md §1.4, "Disk full"). Needs root to mount;
/// the mount lives under the test's own temporary directory and is removed afterwards.
@Suite(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount")))
struct DiskFullTests {
    @Test func noSpaceIsDiskFullNothingIsHalfWrittenAndWritesResumeWhenSpaceReturns() throws {
        try withStoreDirectory { directory in
            let mountPoint = FileSystem.parent(of: directory) + "/small-fs"
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
            try run("/bin/mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mountPoint)
            defer { try? run("/bin/umount", mountPoint) }

            let storeDirectory = mountPoint + "/store"
            var options = LogStore.Options()
            options.mapSizeBytes = 64 << 20  // far above the file system, so ENOSPC comes first
            let store = try LogStore(directory: storeDirectory, options: options)
            var next: UInt64 = 1
            var failure: LogStoreError?
            while failure == nil && next < 10_000 {
                do throws(LogStoreError) {
                    try store.append(makeEntries(next...(next + 7), term: 1, payloadBytes: 4_000),
                                     hardState: StoredHardState(term: 1, vote: 1, commit: next + 7))
                    next += 8
                } catch {
                    failure = error
                }
            }
            #expect(failure == .diskFull(path: storeDirectory), "got \(String(describing: failure))")
            // The failed transaction left no trace; everything acknowledged before is readable.
            #expect(try store.lastIndex == next - 1)
            #expect(try store.hardState().commit == next - 1)
            #expect(try store.verify().isClean)

            // Space returns: the same store accepts the write that failed.
            try run("/bin/mount", "-o", "remount,size=16m", mountPoint)
            try store.append(makeEntries(next...(next + 7), term: 1, payloadBytes: 4_000))
            #expect(try store.lastIndex == next + 7)
            try store.close()
            let reopened = try LogStore(directory: storeDirectory, options: options)
            #expect(try reopened.lastIndex == next + 7)
            #expect(try reopened.verify().isClean)
            try reopened.close()
        }
    }

    private func run(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw LogStoreError.system(errno: 0, operation: arguments.joined(separator: " "), message: "failed")
        }
    }
}
