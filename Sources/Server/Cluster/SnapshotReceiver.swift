import Consensus
import Crypto
import Foundation
import GRPCCore
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The receiving end of `InstallSnapshot`: chunks go to a temporary file in the data directory
/// (so a slow stream does not hold the snapshot in memory), and only a stream that arrived
/// whole, with the announced size and SHA-256, becomes a Raft snapshot message for the driver,
/// which installs it in one LMDB transaction. A broken, short, long or corrupt stream is
/// refused and leaves this server's log and projections as they were.
final class SnapshotReceiver: Sendable {
    /// Why a stream was refused; each names what was wrong.
    struct Refused: Error, CustomStringConvertible {
        let description: String
    }

    /// The one temporary file: a new stream truncates what a broken one left.
    let path: String
    /// One stream at a time: two leaders (an old and a new) may both send one; the second waits
    /// for the core's retry rather than doubling the disk and memory use.
    private let busy = Mutex(false)

    init(dataDir: String) {
        path = dataDir + "/snapshot-incoming.tmp"
    }

    /// The first chunk's promise, checked against `from`/`to` before any data is written.
    struct Header {
        var message: Message
        var totalBytes: Int
        var sha256: [UInt8]

        init(_ chunk: Lineage_Api_V1_SnapshotChunk, from sender: NodeID, to receiver: NodeID) throws(Refused) {
            let message: Message
            do {
                message = try Message(decoding: Array(chunk.header))
            } catch {
                throw Refused(description: "the snapshot header does not decode as a Raft message: \(error)")
            }
            guard message.kind == .snapshot, let snapshot = message.snapshot, !snapshot.isEmpty, snapshot.data.isEmpty else {
                throw Refused(description: "the snapshot header is not a snapshot message without data")
            }
            guard message.from == sender, message.to == receiver else {
                throw Refused(description: "a snapshot from node \(message.from) to node \(message.to) arrived from node \(sender) at node \(receiver)")
            }
            guard chunk.totalBytes <= UInt64(Limits.snapshotBytesMax) else {
                throw Refused(description: "a snapshot of \(chunk.totalBytes) bytes exceeds the limit of \(Limits.snapshotBytesMax)")
            }
            guard chunk.sha256.count == SHA256.byteCount else {
                throw Refused(description: "the snapshot header's sha256 has \(chunk.sha256.count) bytes, not \(SHA256.byteCount)")
            }
            self.message = message
            totalBytes = Int(chunk.totalBytes)
            sha256 = Array(chunk.sha256)
        }
    }

    /// Reads the whole stream and returns the snapshot message it carried. `authorize` checks
    /// the first chunk's sender and returns its node ID; nothing is written before it passes.
    func receive(
        _ chunks: some AsyncSequence<Lineage_Api_V1_SnapshotChunk, any Error>, selfID: NodeID,
        authorize: (Lineage_Api_V1_SnapshotChunk) throws -> NodeID
    ) async throws -> Message {
        var iterator = chunks.makeAsyncIterator()
        guard let first = try await iterator.next() else { throw Refused(description: "the snapshot stream is empty") }
        let sender = try authorize(first)
        let header = try Header(first, from: sender, to: selfID)
        guard busy.withLock({ busy in defer { busy = true }; return !busy }) else {
            throw RPCError(code: .unavailable, message: "another snapshot is being received; the leader retries later")
        }
        defer { busy.withLock { $0 = false } }
        defer { unlink(path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Refused(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        var hasher = SHA256()
        var received = 0
        do {
            defer { close(fd) }
            var chunk: Lineage_Api_V1_SnapshotChunk? = first
            var isFirst = true
            while let current = chunk {
                if !isFirst {
                    guard !current.hasSender, current.header.isEmpty, current.totalBytes == 0, current.sha256.isEmpty else {
                        throw Refused(description: "only the first snapshot chunk may carry a header")
                    }
                }
                let data = current.data
                guard data.count <= Limits.snapshotChunkBytesMax else {
                    throw Refused(description: "a snapshot chunk of \(data.count) bytes exceeds \(Limits.snapshotChunkBytesMax)")
                }
                guard received + data.count <= header.totalBytes else {
                    throw Refused(description: "the snapshot stream carries more than the announced \(header.totalBytes) bytes")
                }
                try Self.writeAll(fd, data, path: path)
                hasher.update(data: data)
                received += data.count
                isFirst = false
                chunk = try await iterator.next()
            }
        }
        guard received == header.totalBytes else {
            throw Refused(description: "the snapshot stream ended after \(received) of \(header.totalBytes) bytes")
        }
        guard Array(hasher.finalize()) == header.sha256 else {
            throw Refused(description: "the snapshot's SHA-256 does not match its header")
        }
        // Read back and check again: what the driver installs is what the leader sent, not
        // what a failing disk returned.
        let stored = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        guard stored.count == header.totalBytes, Array(SHA256.hash(data: stored)) == header.sha256 else {
            throw Refused(description: "the snapshot read back from \(path) differs from what was received")
        }
        var message = header.message
        message.snapshot?.data = stored
        return message
    }

    private static func writeAll(_ fd: Int32, _ data: Data, path: String) throws(Refused) {
        let failure: Int32? = data.withUnsafeBytes { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return nil
        }
        if let failure { throw Refused(description: "cannot write \(path): \(String(cString: strerror(failure)))") }
    }
}
