// lineage-bench-store: what a durable commit costs on this machine, and how much group commit
// buys back. Run in release: `swift run -c release lineage-bench-store [parent-directory]`.
// The parent directory (default /var/tmp) must be on the disk under test — not a tmpfs, where
// fsync is free and the numbers mean nothing.
import CLMDB
import LogStore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One measured case: how many events it wrote, and the latency of every commit.
struct Measurement {
    let name: String
    let events: Int
    let commitLatencies: [Duration]
    let total: Duration

    var eventsPerSecond: Double { Double(events) / seconds(total) }
    var commitsPerSecond: Double { Double(commitLatencies.count) / seconds(total) }

    func percentile(_ fraction: Double) -> Duration {
        let sorted = commitLatencies.sorted()
        let position = min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)
        return sorted[max(0, position)]
    }
}

func seconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
}

func microseconds(_ duration: Duration) -> String {
    let value = seconds(duration) * 1e6
    return value >= 100 ? String(Int(value.rounded())) : String(Double(Int(value * 10)) / 10)
}

func check(_ code: Int32, _ what: String) {
    guard code == MDB_SUCCESS else {
        print("\(what) failed: \(String(cString: mdb_strerror(code)))")
        exit(1)
    }
}

func makeDirectory(_ parent: String, _ name: String) -> String {
    let path = parent + "/" + name
    guard mkdir(path, 0o700) == 0 else {
        print("mkdir \(path) failed: \(String(cString: strerror(errno)))")
        exit(1)
    }
    return path
}

/// Raw LMDB, no LogStore: `putsPerTransaction` 200-byte puts, then commit.
func rawLMDB(_ directory: String, name: String, sync: Bool, putsPerTransaction: Int,
             transactions: Int) -> Measurement
{
    var created: OpaquePointer?
    check(mdb_env_create(&created), "mdb_env_create")
    guard let env = created else { exit(1) }
    defer { mdb_env_close(env) }
    check(mdb_env_set_mapsize(env, 4 << 30), "mdb_env_set_mapsize")
    let flags = MDB_NOTLS | (sync ? 0 : MDB_NOSYNC)
    check(mdb_env_open(env, directory, UInt32(flags), 0o600), "mdb_env_open")
    var value = [UInt8](repeating: 0x5A, count: 200)
    var key: UInt64 = 0
    var latencies: [Duration] = []
    latencies.reserveCapacity(transactions)
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<transactions {
        let began = clock.now
        var txn: OpaquePointer?
        check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var dbi: MDB_dbi = 0
        check(mdb_dbi_open(txn, nil, 0, &dbi), "mdb_dbi_open")
        for _ in 0..<putsPerTransaction {
            key += 1
            var bigEndian = key.bigEndian
            withUnsafeMutableBytes(of: &bigEndian) { keyBytes in
                value.withUnsafeMutableBytes { valueBytes in
                    var k = MDB_val(mv_size: 8, mv_data: keyBytes.baseAddress)
                    var v = MDB_val(mv_size: valueBytes.count, mv_data: valueBytes.baseAddress)
                    check(mdb_put(txn, dbi, &k, &v, UInt32(MDB_APPEND)), "mdb_put")
                }
            }
        }
        check(mdb_txn_commit(txn), "mdb_txn_commit")
        latencies.append(clock.now - began)
    }
    return Measurement(name: name, events: transactions * putsPerTransaction,
                       commitLatencies: latencies, total: clock.now - start)
}

/// LogStore's durable group commit: `batchEntries` 200-byte entries plus the hard state per
/// `commit(_:)`, fsync on.
func logStore(
    _ directory: String, batchEntries: Int, batches: Int, sync: Bool = true
) -> Measurement {
    do {
        var options = LogStore.Options()
        options.mapSizeBytes = 4 << 30
        options.syncOnCommit = sync
        let store = try LogStore(directory: directory, options: options)
        let payload = [UInt8](repeating: 0x5A, count: 200)
        var next: UInt64 = 1
        var latencies: [Duration] = []
        latencies.reserveCapacity(batches)
        let clock = ContinuousClock()
        let start = clock.now
        for _ in 0..<batches {
            let began = clock.now
            var batch = WriteBatch()
            for _ in 0..<batchEntries {
                batch.append(StoredEntry(index: next, term: 1, payload: payload))
                next += 1
            }
            batch.hardState = StoredHardState(term: 1, vote: 1, commit: next - 1)
            try store.commit(batch)
            latencies.append(clock.now - began)
        }
        let total = clock.now - start
        try store.close()
        let mode = sync ? "fsync" : "MDB_NOSYNC"
        return Measurement(name: "LogStore group commit, batch \(batchEntries), \(mode)",
                           events: batches * batchEntries, commitLatencies: latencies, total: total)
    } catch {
        print("LogStore benchmark failed: \(error)")
        exit(1)
    }
}

let parent = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "/var/tmp"
var template = Array("\(parent)/lineage-bench-store-XXXXXX".utf8CString)
let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
guard let root = created.map({ String(cString: $0) }) else {
    print("mkdtemp under \(parent) failed")
    exit(1)
}
defer { _ = system("rm -rf '\(root)'") }

var results: [Measurement] = []
results.append(rawLMDB(makeDirectory(root, "raw-sync"), name: "raw LMDB, 1 put/txn, fsync",
                       sync: true, putsPerTransaction: 1, transactions: 2_000))
results.append(rawLMDB(makeDirectory(root, "raw-sync-256"), name: "raw LMDB, 256 puts/txn, fsync",
                       sync: true, putsPerTransaction: 256, transactions: 200))
results.append(rawLMDB(makeDirectory(root, "raw-nosync-1"), name: "raw LMDB, 1 put/txn, MDB_NOSYNC",
                       sync: false, putsPerTransaction: 1, transactions: 20_000))
results.append(rawLMDB(makeDirectory(root, "raw-nosync-10k"), name: "raw LMDB, 10k puts/txn, MDB_NOSYNC",
                       sync: false, putsPerTransaction: 10_000, transactions: 20))
for (batchEntries, batches) in [(1, 2_000), (16, 1_000), (256, 200), (4_096, 20)] {
    results.append(logStore(makeDirectory(root, "logstore-\(batchEntries)"), batchEntries: batchEntries,
                            batches: batches))
}
// The store's own CPU cost (codec, CRC-32C, checks) without the fsync.
results.append(logStore(makeDirectory(root, "logstore-nosync-256"), batchEntries: 256, batches: 200,
                        sync: false))

var driverResults: [DriverMeasurement] = []
for (writers, eventsPerWriter) in [(1, 2_000), (16, 1_000), (256, 100)] {
    do {
        driverResults.append(try await driverBenchmark(
            makeDirectory(root, "driver-\(writers)"), writers: writers, eventsPerWriter: eventsPerWriter))
    } catch {
        print("driver benchmark with \(writers) writers failed: \(error)")
        exit(1)
    }
}

print("Store benchmark: 200-byte values, data under \(root)\n")
print("| case | events | commits | events/s | commits/s | p50 commit µs | p99 commit µs |")
print("|---|---:|---:|---:|---:|---:|---:|")
for result in results {
    print("| \(result.name) | \(result.events) | \(result.commitLatencies.count) "
        + "| \(Int(result.eventsPerSecond.rounded())) | \(Int(result.commitsPerSecond.rounded())) "
        + "| \(microseconds(result.percentile(0.5))) | \(microseconds(result.percentile(0.99))) |")
}

print("\nDurable append through the Raft driver (single server, fsync on, group commit; each writer")
print("waits for its acknowledgement before proposing again):\n")
print("| concurrent writers | events | events/s | p50 ack µs | p99 ack µs |")
print("|---:|---:|---:|---:|---:|")
for result in driverResults {
    print("| \(result.writers) | \(result.latencies.count) | \(Int(result.eventsPerSecond.rounded())) "
        + "| \(microseconds(result.percentile(0.5))) | \(microseconds(result.percentile(0.99))) |")
}
