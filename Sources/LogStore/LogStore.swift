import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The durable store of one Lineage server: the Raft log, the hard state, the latest snapshot,
/// the applied index and the projection tables, in one LMDB environment per data directory.
///
/// **Single-owner contract.** A `LogStore` is deliberately not `Sendable`: exactly one owner
/// (the Raft driver's task, or a history tool) holds it and calls it from one thread at a time.
/// Every method opens and ends its own LMDB transaction before returning, so no transaction
/// outlives a call and an LMDB write transaction never migrates between threads (LMDB's rule).
/// Read transactions use `MDB_NOTLS`, so they are not tied to thread-local reader slots either.
/// Concurrency with other readers (history tools, backups) happens across *processes*: they open
/// the same directory with `Options.readOnly`, which LMDB's MVCC serves without blocking the
/// writer.
///
/// NB: do not open the same directory twice in one production process. LMDB's lock file uses
/// POSIX record locks, which a process drops when it closes *any* descriptor of the file. Tests
/// do it (read-only beside a writer) only where no other process shares the directory.
///
/// **Data checks.** Every value is wrapped by `RecordCodec` (version, length, CRC-32C bound to
/// table and key), because LMDB does not checksum pages. Opening scans the log: bad records
/// after the last good one are a torn tail and are removed; a bad or missing record before a
/// good one is mid-log corruption, which leaves the store open but `health` degraded so the node
/// neither votes nor leads. A clean `close()` seals `data.mdb` (see `DataFileSeal`).
public final class LogStore {
    public struct Options: Sendable {
        /// Size of LMDB's memory map: the most the store can hold. Writes past it fail with
        /// `LogStoreError.mapFull`; raise this (or call `setMapSize(_:)`) to grow it.
        public var mapSizeBytes = 1 << 30
        /// Open beside a running writer for history tools (`MDB_RDONLY`); never writes.
        public var readOnly = false
        /// fsync on every commit. Turn off only in benchmarks and throwaway tests: without it a
        /// system crash may undo acknowledged commits (`MDB_NOSYNC`).
        public var syncOnCommit = true
        /// Write `data.mdb.seal` after a clean close.
        public var sealOnClose = true
        /// Check the seal before LMDB maps the file; false only to inspect a damaged store.
        public var verifySealOnOpen = true
        /// How many records before the last good one the startup scan checks; nil checks all.
        /// `verify()` always checks everything.
        public var startupScanRecordsMax: Int?

        public init() {}

        public static var readOnly: Options {
            var options = Options()
            options.readOnly = true
            return options
        }
    }

    /// LMDB handles of LogStore's own named databases.
    struct Tables {
        var log: MDB_dbi = 0
        var hardState: MDB_dbi = 0
        var snapshot: MDB_dbi = 0
        var meta: MDB_dbi = 0
    }

    /// Current on-disk format. Stored in `meta` as "format".
    public static let formatVersion: UInt32 = 1

    public let directory: String
    public let options: Options
    /// What the startup scan found and did.
    public internal(set) var openReport: OpenReport
    /// Degraded while a corrupt or missing record (or a commit index past the log) is known.
    /// Updated by the startup scan, by every commit, and by `verify()`; a read-only store does
    /// not see a writer's repairs until it reopens or verifies again.
    public var health: StoreHealth {
        let candidates = [corruptRecordIndex, commitGapIndex].compactMap { $0 }
        guard let first = candidates.min() else { return .healthy }
        return .corruption(index: first)
    }
    /// The first untrustworthy log index while degraded.
    public var corruptIndex: UInt64? {
        if case .corruption(let index) = health { return index }
        return nil
    }
    public var isReadOnly: Bool { options.readOnly }

    var env: OpaquePointer?
    var tables = Tables()
    var projectionTables: [String: MDB_dbi] = [:]
    /// Table handles opened by the running transaction; LMDB closes them if it aborts.
    var pendingTables: [String] = []
    var writerLock: Int32
    /// Lowest log index a scan found corrupt or missing.
    var corruptRecordIndex: UInt64?
    /// Set when the stored commit index points past the last entry (lastIndex + 1).
    var commitGapIndex: UInt64?
    /// Set after an EIO: no further writes (fsyncgate).
    var ioFailure: LogStoreError?

    /// Opens (creating if needed, unless read-only) the store in `directory`.
    public convenience init(directory: String, options: Options = Options()) throws(LogStoreError) {
        do {
            try self.init(opening: directory, options: options)
        } catch {
            throw LogStoreError.typed(error)
        }
    }

    private init(opening directory: String, options: Options) throws {
        guard options.mapSizeBytes >= Limits.mapSizeBytesMin else {
            throw LogStoreError.invalidArgument("mapSizeBytes below \(Limits.mapSizeBytesMin)")
        }
        let dataPath = FileSystem.join(directory, "data.mdb")
        if options.readOnly {
            guard FileSystem.exists(dataPath) else {
                throw LogStoreError.notAStore(path: directory)
            }
        } else {
            try FileSystem.makeDirectory(directory)
        }
        let lock = options.readOnly ? -1 : try Self.acquireWriterLock(in: directory)
        var report = OpenReport()
        let environment: OpaquePointer
        do {
            report.seal = try Self.checkSeal(in: directory, options: options)
            environment = try Self.openEnvironment(directory, options: options)
            if !options.readOnly && report.seal != .absent {
                // The writer's first transaction will change data.mdb, so the seal would go
                // stale; it goes only now that LMDB has accepted the file.
                do {
                    try FileSystem.removeFile(DataFileSeal.path(in: directory))
                } catch {
                    mdb_env_close(environment)
                    throw error
                }
            }
        } catch {
            if lock >= 0 { FileSystem.closeDescriptor(lock) }
            throw error
        }
        self.directory = directory
        self.options = options
        self.env = environment
        self.writerLock = lock
        self.openReport = report
        try bootstrap()
    }

    deinit {
        if let env { mdb_env_close(env) }
        if writerLock >= 0 { FileSystem.closeDescriptor(writerLock) }
    }

    /// Closes the environment and, for a writer with `sealOnClose`, seals `data.mdb`.
    /// Using the store afterwards is a programming error.
    public func close() throws(LogStoreError) {
        try typed {
            guard let environment = env else { return }
            mdb_env_close(environment)
            env = nil
            defer {
                if writerLock >= 0 { FileSystem.closeDescriptor(writerLock) }
                writerLock = -1
            }
            if !options.readOnly && options.sealOnClose && ioFailure == nil {
                try DataFileSeal.write(in: directory)
            }
        }
    }

    /// Grows (or shrinks) the map. Safe here because no transaction outlives a call.
    public func setMapSize(_ bytes: Int) throws(LogStoreError) {
        try typed {
            guard bytes >= Limits.mapSizeBytesMin else {
                throw LogStoreError.invalidArgument("map size below \(Limits.mapSizeBytesMin)")
            }
            let context = try liveContext()
            try context.check(mdb_env_set_mapsize(context.env, bytes), "mdb_env_set_mapsize")
        }
    }

    /// The current map size in bytes.
    public var mapSizeBytes: Int {
        guard let env else { return 0 }
        var info = MDB_envinfo()
        _ = mdb_env_info(env, &info)
        return info.me_mapsize
    }

    // MARK: - Opening

    /// One writer per directory: a `flock` on `writer.lock`, held until close. flock (unlike
    /// LMDB's record locks) belongs to the open file description, so a second writer in the
    /// same process is refused too.
    private static func acquireWriterLock(in directory: String) throws -> Int32 {
        let path = FileSystem.join(directory, "writer.lock")
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw LogStoreError.system("open \(path)") }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            FileSystem.closeDescriptor(descriptor)
            if code == EWOULDBLOCK { throw LogStoreError.alreadyOpen(path: directory) }
            throw LogStoreError.system("flock \(path)", errno: code)
        }
        return descriptor
    }

    private static func checkSeal(in directory: String, options: Options) throws -> OpenReport.Seal {
        guard DataFileSeal.exists(in: directory) else { return .absent }
        let result: OpenReport.Seal
        if options.verifySealOnOpen {
            try DataFileSeal.verify(in: directory)
            result = .verified
        } else {
            result = .skipped
        }
        return result
    }

    private static func openEnvironment(_ directory: String, options: Options) throws -> OpaquePointer {
        var created: OpaquePointer?
        var code = mdb_env_create(&created)
        guard code == MDB_SUCCESS, let environment = created else {
            throw LogStoreError.from(lmdb: code, operation: "mdb_env_create", env: nil, path: directory)
        }
        let context = LMDBContext(env: environment, path: directory)
        var flags = MDB_NOTLS
        if options.readOnly { flags |= MDB_RDONLY }
        if !options.syncOnCommit { flags |= MDB_NOSYNC }
        let tablesMax = MDB_dbi(Limits.internalTablesCount + Limits.projectionTablesMax)
        code = mdb_env_set_maxdbs(environment, tablesMax)
        if code == MDB_SUCCESS { code = mdb_env_set_mapsize(environment, options.mapSizeBytes) }
        if code == MDB_SUCCESS { code = mdb_env_open(environment, directory, UInt32(flags), 0o600) }
        if code != MDB_SUCCESS {
            mdb_env_close(environment)
            throw context.error(code, "mdb_env_open \(directory)")
        }
        if !options.readOnly {
            do {
                try FileSystem.fsyncDirectory(directory)
            } catch {
                mdb_env_close(environment)
                throw error
            }
        }
        return environment
    }

    /// Opens the named databases, checks the format version, then scans the log.
    private func bootstrap() throws {
        if options.readOnly {
            tables = try read { txn in
                guard let log = try openTable("log", txn, create: false),
                      let hardState = try openTable("hardstate", txn, create: false),
                      let snapshot = try openTable("snapshot", txn, create: false),
                      let meta = try openTable("meta", txn, create: false)
                else { throw LogStoreError.notAStore(path: directory) }
                return Tables(log: log, hardState: hardState, snapshot: snapshot, meta: meta)
            }
        } else {
            tables = try write { txn in
                var opened = Tables()
                opened.log = try openTable("log", txn, create: true)!
                opened.hardState = try openTable("hardstate", txn, create: true)!
                opened.snapshot = try openTable("snapshot", txn, create: true)!
                opened.meta = try openTable("meta", txn, create: true)!
                return opened
            }
        }
        try checkFormat()
        try recoverOnOpen()
    }

    private func checkFormat() throws {
        let found = try read { txn in try readFormat(txn) }
        if let found {
            guard found <= Self.formatVersion else {
                throw LogStoreError.versionUnsupported(found: found, supported: Self.formatVersion)
            }
            return
        }
        guard !options.readOnly else { throw LogStoreError.notAStore(path: directory) }
        try write { txn in
            var body: [UInt8] = []
            body.appendBigEndian(Self.formatVersion)
            try putRecord(txn, tables.meta, .meta, key: MetaKey.format, body: body)
        }
    }

    private func readFormat(_ txn: Transaction) throws -> UInt32? {
        guard let body = try getRecord(txn, tables.meta, .meta, key: MetaKey.format, name: "format")
        else { return nil }
        guard body.count == 4 else { throw LogStoreError.corruptMetadata(name: "format") }
        return body.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
    }

    /// Opens a named database (`create` only inside a write transaction). Returns nil if it
    /// does not exist and `create` is false.
    func openTable(_ name: String, _ txn: Transaction, create: Bool) throws -> MDB_dbi? {
        var dbi: MDB_dbi = 0
        let code = mdb_dbi_open(txn.raw, name, create ? UInt32(MDB_CREATE) : 0, &dbi)
        if code == MDB_NOTFOUND { return nil }
        if code == MDB_DBS_FULL {
            throw LogStoreError.limitExceeded(
                "more than \(Limits.projectionTablesMax) projection tables")
        }
        try txn.context.check(code, "mdb_dbi_open \(name)")
        return dbi
    }

    // MARK: - Transactions

    /// Runs internal code whose closures (`withUnsafeBytes`, cursors) erase the error type, and
    /// gives the public API its closed error set back.
    func typed<R>(_ body: () throws -> R) throws(LogStoreError) -> R {
        do {
            return try body()
        } catch {
            throw LogStoreError.typed(error)
        }
    }

    func liveContext() throws -> LMDBContext {
        guard let env else { preconditionFailure("LogStore used after close()") }
        return LMDBContext(env: env, path: directory)
    }

    private func begin(readOnly: Bool) throws -> Transaction {
        let context = try liveContext()
        var raw: OpaquePointer?
        let flags = readOnly ? UInt32(MDB_RDONLY) : 0
        var code = mdb_txn_begin(context.env, nil, flags, &raw)
        if code == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size and retry once.
            try context.check(mdb_env_set_mapsize(context.env, 0), "mdb_env_set_mapsize")
            code = mdb_txn_begin(context.env, nil, flags, &raw)
        }
        try context.check(code, readOnly ? "mdb_txn_begin(read)" : "mdb_txn_begin(write)")
        guard let raw else { preconditionFailure("mdb_txn_begin returned no transaction") }
        return Transaction(raw: raw, context: context, isReadOnly: readOnly)
    }

    /// Runs `body` in a read transaction. It ends with `mdb_txn_commit`, which for a read-only
    /// transaction only keeps table handles it opened.
    func read<R>(_ body: (Transaction) throws -> R) throws -> R {
        let txn = try begin(readOnly: true)
        let result: R
        do {
            result = try body(txn)
        } catch {
            mdb_txn_abort(txn.raw)
            forgetPendingTables()
            throw error
        }
        let code = mdb_txn_commit(txn.raw)
        if code != MDB_SUCCESS {
            forgetPendingTables()
            throw txn.context.error(code, "mdb_txn_commit(read)")
        }
        pendingTables.removeAll()
        return result
    }

    /// Runs `body` in one write transaction and commits it (one fsync unless `syncOnCommit` is
    /// off). If `body` throws, nothing of it is written.
    func write<R>(_ body: (Transaction) throws -> R) throws -> R {
        guard !options.readOnly else { throw LogStoreError.readOnly }
        if let ioFailure { throw ioFailure }
        let txn = try begin(readOnly: false)
        let result: R
        do {
            result = try body(txn)
        } catch {
            mdb_txn_abort(txn.raw)
            forgetPendingTables()
            throw error
        }
        let code = mdb_txn_commit(txn.raw)
        if code != MDB_SUCCESS {
            forgetPendingTables()
            var failure = txn.context.error(code, "mdb_txn_commit")
            if case .ioFailure = failure {
                // LMDB 0.9 reports a *short* pwrite as EIO (mdb_page_flush), and a filling disk
                // causes exactly that. Pages are flushed before the meta page, so the commit did
                // not happen and the store is intact: call it disk full. An EIO with room left is
                // a device error, possibly from fsync, and poisons the store (fsyncgate).
                let available = FileSystem.availableBytes(directory) ?? Int.max
                if available < Limits.diskFullSlackBytes {
                    failure = .diskFull(path: directory)
                } else {
                    ioFailure = failure
                }
            }
            throw failure
        }
        pendingTables.removeAll()
        return result
    }

    private func forgetPendingTables() {
        for name in pendingTables { projectionTables[name] = nil }
        pendingTables.removeAll()
    }

    // MARK: - Fixed records

    enum MetaKey {
        static let format = Array("format".utf8)
        static let applied = Array("applied".utf8)
        static let compacted = Array("compacted".utf8)
        static let hardState = Array("state".utf8)
        static let snapshotMeta = Array("meta".utf8)
        static let snapshotData = Array("data".utf8)
    }

    /// Reads and checks a fixed record; returns a copy of its body.
    func getRecord(_ txn: Transaction, _ dbi: MDB_dbi, _ domain: RecordDomain, key: [UInt8],
                   name: String) throws -> [UInt8]?
    {
        try key.withUnsafeBytes { keyBytes in
            guard let value = try txn.get(dbi, key: keyBytes) else { return nil }
            switch RecordCodec.decode(value, domain: domain, key: keyBytes) {
            case .success(let body): return Array(body)
            case .failure: throw LogStoreError.corruptMetadata(name: name)
            }
        }
    }

    func putRecord(_ txn: Transaction, _ dbi: MDB_dbi, _ domain: RecordDomain, key: [UInt8],
                   body: [UInt8]) throws
    {
        try txn.put(dbi, key: key, value: RecordCodec.encode(domain: domain, key: key, body: body))
    }
}
