import Consensus
import LogStore

/// The Raft core's read-only view of the durable log in LMDB (`RaftLogStorage` over `LogStore`).
///
/// A stored entry's payload is the Raft entry in its own versioned encoding (kind, request ID,
/// data), so what the core proposed is exactly what it reads back; LogStore adds the checksum.
/// The snapshot's configuration travels in `StoredSnapshotMeta.configuration`.
final class LMDBRaftStorage: RaftLogStorage {
    let store: LogStore
    /// The voters a brand-new store starts with (no snapshot, no configuration entries yet).
    let bootstrapConfiguration: ConfigurationState

    init(store: LogStore, bootstrapConfiguration: ConfigurationState) {
        self.store = store
        self.bootstrapConfiguration = bootstrapConfiguration
    }

    func initialState() -> (HardState, ConfigurationState) {
        let stored = Self.unwrap { () throws(LogStoreError) in try store.hardState() }
        let hardState = HardState(term: stored.term, vote: stored.vote, commit: stored.commit)
        guard let meta = Self.unwrap({ () throws(LogStoreError) in try store.snapshotMeta() }) else {
            return (hardState, bootstrapConfiguration)
        }
        return (hardState, Self.decodeConfiguration(meta.configuration))
    }

    func entries(from low: Consensus.LogIndex, to high: Consensus.LogIndex, maxBytes: Int) throws(StorageError) -> [Entry] {
        let stored: [StoredEntry]
        do {
            stored = try store.entries(from: low, to: high, maxBytes: maxBytes)
        } catch .compacted {
            throw .compacted
        } catch .unavailable {
            throw .unavailable
        } catch {
            preconditionFailure("log store read failed at [\(low), \(high)): \(error)")
        }
        return stored.map(Self.decode)
    }

    func term(at index: Consensus.LogIndex) throws(StorageError) -> Term {
        do {
            return try store.term(at: index)
        } catch .compacted {
            throw .compacted
        } catch .unavailable {
            throw .unavailable
        } catch {
            preconditionFailure("log store read failed at \(index): \(error)")
        }
    }

    func firstIndex() -> Consensus.LogIndex { Self.unwrap { () throws(LogStoreError) in try store.firstIndex } }

    func lastIndex() -> Consensus.LogIndex { Self.unwrap { () throws(LogStoreError) in try store.lastIndex } }

    func snapshot() throws(StorageError) -> Snapshot {
        guard let (meta, data) = Self.unwrap({ () throws(LogStoreError) in try store.snapshot() }) else {
            return Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, configuration: bootstrapConfiguration), data: [])
        }
        return Snapshot(
            metadata: SnapshotMetadata(index: meta.index, term: meta.term, configuration: Self.decodeConfiguration(meta.configuration)),
            data: data)
    }

    // MARK: - Mapping

    static func stored(_ entry: Entry) -> StoredEntry {
        StoredEntry(index: entry.index, term: entry.term, payload: entry.encoded())
    }

    /// A record that passed LogStore's checksum but does not decode means the code, not the disk,
    /// is wrong (or a future format): stop rather than apply something else.
    static func decode(_ stored: StoredEntry) -> Entry {
        do {
            let entry = try Entry(decoding: stored.payload)
            precondition(entry.index == stored.index && entry.term == stored.term,
                         "log record \(stored.index) holds entry \(entry.index)/\(entry.term)")
            return entry
        } catch {
            preconditionFailure("log record \(stored.index) does not decode as a Raft entry: \(error)")
        }
    }

    static func encodeConfiguration(_ configuration: ConfigurationState) -> [UInt8] {
        var bytes: [UInt8] = [1]  // format version
        for voter in configuration.voters {
            bytes += (0..<8).map { UInt8(truncatingIfNeeded: voter >> (56 - 8 * $0)) }
        }
        return bytes
    }

    static func decodeConfiguration(_ bytes: [UInt8]) -> ConfigurationState {
        precondition(bytes.first == 1 && (bytes.count - 1) % 8 == 0, "unknown snapshot configuration format")
        let voters = stride(from: 1, to: bytes.count, by: 8).map { offset in
            bytes[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
        return ConfigurationState(voters: voters)
    }

    /// Reads the core cannot recover from (the store was already opened and verified) stop the
    /// node instead of letting Raft act on a guess.
    private static func unwrap<T>(_ read: () throws(LogStoreError) -> T) -> T {
        do {
            return try read()
        } catch {
            preconditionFailure("log store read failed: \(error)")
        }
    }
}
