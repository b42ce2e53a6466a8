import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors LogStore reports at its API boundary. Each case's `description` says what happened
/// and, where an operator can act, what to do about it.
public enum LogStoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The LMDB map is full (`MDB_MAP_FULL`). The failed transaction was aborted; the store is
    /// still usable and holds everything committed before.
    case mapFull(mapSizeBytes: Int)
    /// The file system is out of space (`ENOSPC`). Nothing from the failed transaction is durable.
    case diskFull(path: String)
    /// The log record at `index` failed its checksum, is structurally broken, or is missing.
    case corrupt(index: UInt64)
    /// A projection table value failed its checksum.
    case corruptTable(name: String, key: [UInt8])
    /// A fixed record (hard state, snapshot, applied index, format) failed its checksum.
    case corruptMetadata(name: String)
    /// The store was written by a newer format than this build understands.
    case versionUnsupported(found: UInt32, supported: UInt32)
    /// `data.mdb` changed since the store was sealed at its last clean close.
    case dataFileModified(path: String, page: Int)
    /// The requested index was compacted into a snapshot.
    case compacted(index: UInt64)
    /// The requested index is past the end of the log.
    case unavailable(index: UInt64)
    /// The caller passed something the store's contract forbids (gap, truncating committed
    /// entries, applied index going back, bad table name …).
    case invalidArgument(String)
    /// An input exceeded one of `Limits`.
    case limitExceeded(String)
    /// A write was attempted on a store opened read-only.
    case readOnly
    /// Another LogStore in this or another process holds the writer lock on the directory.
    case alreadyOpen(path: String)
    /// The directory holds no LogStore (read-only open of an uninitialised directory).
    case notAStore(path: String)
    /// A write or fsync failed with EIO. The store refuses further writes: retrying an fsync
    /// after EIO can falsely succeed ("fsyncgate"), so the process must exit and restart.
    case ioFailure(operation: String)
    /// Any other LMDB return code, with `mdb_strerror`'s text.
    case lmdb(code: Int32, operation: String, message: String)
    /// A system call on the store's files failed.
    case system(errno: Int32, operation: String, message: String)

    public var description: String {
        switch self {
        case .mapFull(let size):
            return "LMDB map is full (MDB_MAP_FULL) at \(size) bytes; raise "
                + "LogStore.Options.mapSizeBytes (or call LogStore.setMapSize(_:)) and retry; "
                + "the failed transaction was rolled back"
        case .diskFull(let path):
            return "no space left on device under \(path) (ENOSPC); the failed transaction was "
                + "rolled back; free disk space and retry"
        case .corrupt(let index):
            return "log record at index \(index) is corrupt or missing; this node must not vote "
                + "or lead until the log is repaired from peers"
        case .corruptTable(let name, let key):
            return "projection table '\(name)' has a corrupt value at key \(hex(key))"
        case .corruptMetadata(let name):
            return "store record '\(name)' is corrupt"
        case .versionUnsupported(let found, let supported):
            return "store format version \(found) is newer than supported version \(supported); "
                + "upgrade this binary"
        case .dataFileModified(let path, let page):
            return "\(path) changed since its last clean close (first differing 4 KiB block "
                + "\(page)); restore from a backup or peers, or open with verifySealOnOpen=false "
                + "to inspect it"
        case .compacted(let index):
            return "index \(index) is compacted into a snapshot"
        case .unavailable(let index):
            return "index \(index) is past the end of the log"
        case .invalidArgument(let why):
            return "invalid argument: \(why)"
        case .limitExceeded(let why):
            return "limit exceeded: \(why)"
        case .readOnly:
            return "store is opened read-only"
        case .alreadyOpen(let path):
            return "another writer holds \(path); one writer per data directory"
        case .notAStore(let path):
            return "\(path) holds no Lineage log store"
        case .ioFailure(let operation):
            return "I/O error (EIO) during \(operation); the store refuses further writes; "
                + "restart the process"
        case .lmdb(let code, let operation, let message):
            return "LMDB error \(code) during \(operation): \(message)"
        case .system(let errno, let operation, let message):
            return "\(operation) failed: \(message) (errno \(errno))"
        }
    }

    /// Maps an LMDB return code to the case an operator can act on.
    ///
    /// LMDB returns plain `errno` values for I/O failures, so ENOSPC and EIO arrive here too.
    static func from(lmdb code: Int32, operation: String, env: OpaquePointer?, path: String)
        -> LogStoreError
    {
        precondition(code != MDB_SUCCESS, "mapping success as an error")
        switch code {
        case MDB_MAP_FULL:
            var info = MDB_envinfo()
            if let env { _ = mdb_env_info(env, &info) }
            return .mapFull(mapSizeBytes: info.me_mapsize)
        case ENOSPC:
            return .diskFull(path: path)
        case EIO:
            return .ioFailure(operation: operation)
        case MDB_VERSION_MISMATCH, MDB_INVALID:
            return .lmdb(code: code, operation: operation,
                         message: String(cString: mdb_strerror(code))
                             + " (data.mdb is not a readable LMDB file of this version)")
        default:
            return .lmdb(code: code, operation: operation,
                         message: String(cString: mdb_strerror(code)))
        }
    }

    /// Every internal throw is a `LogStoreError`; anything else would be a LogStore bug, which
    /// is reported as an error rather than a crash.
    static func typed(_ error: any Error) -> LogStoreError {
        if let error = error as? LogStoreError { return error }
        return .system(errno: 0, operation: "LogStore", message: "unexpected error \(error)")
    }

    static func system(_ operation: String, errno code: Int32 = errno) -> LogStoreError {
        if code == ENOSPC { return .diskFull(path: operation) }
        if code == EIO { return .ioFailure(operation: operation) }
        return .system(errno: code, operation: operation, message: String(cString: strerror(code)))
    }
}

/// A table key for messages: quoted text when it is printable ASCII (entry IDs, SPIFFE IDs),
/// else hex.
public func keyText(_ key: [UInt8]) -> String {
    if !key.isEmpty, key.count <= 256, key.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x22 }) {
        return "\"" + String(decoding: key, as: UTF8.self) + "\""
    }
    return "0x" + hex(key)
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef")
    var text = ""
    text.reserveCapacity(bytes.count * 2)
    for byte in bytes.prefix(64) {
        text.append(digits[Int(byte >> 4)])
        text.append(digits[Int(byte & 0x0f)])
    }
    return bytes.count > 64 ? text + "…" : text
}
