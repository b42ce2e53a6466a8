import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension LogStore {
    /// Writes a consistent, compacted copy of the store into `destination` (created with mode
    /// 0700 if missing; it must not already hold a `data.mdb`).
    ///
    /// `mdb_env_copy2(MDB_CP_COMPACT)` copies from one read transaction, so the copy is a single
    /// committed state even while a writer (typically in another process, through a read-only
    /// store) keeps committing; free pages are left out. The copy is fsynced and sealed, so
    /// damage to it before it is first opened is detected.
    public func backup(to destination: String) throws(LogStoreError) {
        try typed {
            let context = try liveContext()
            try FileSystem.makeDirectory(destination)
            let dataPath = FileSystem.join(destination, "data.mdb")
            guard !FileSystem.exists(dataPath) else {
                throw LogStoreError.invalidArgument(
                    "backup target \(destination) already holds data.mdb")
            }
            try context.check(mdb_env_copy2(context.env, destination, UInt32(MDB_CP_COMPACT)),
                              "mdb_env_copy2 \(destination)")
            if chmod(dataPath, 0o600) != 0 { throw LogStoreError.system("chmod \(dataPath)") }
            try FileSystem.fsyncFile(dataPath)
            try FileSystem.fsyncDirectory(destination)
            try DataFileSeal.write(in: destination)
        }
    }
}
