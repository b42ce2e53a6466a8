/// A per-block CRC-32C list of `data.mdb`, written after a clean close and checked before LMDB
/// maps the file again.
///
/// Why: LMDB has no page checksums. Record checksums catch damage inside values, but a flipped
/// byte in a branch page, a page header or a meta page is followed by LMDB as a pointer, which
/// can read garbage or crash the process. Checking the whole file before `mdb_env_open` turns
/// any change made while the store was closed (bit rot, a stray `dd`) into a clear open error
/// that names the block. It costs one sequential read of the file at open and at close.
/// After a crash there is no seal (it is removed before the first write), and the record
/// checksums and startup scan are the defence.
///
/// Layout, integers big-endian: magic "LNSEAL01", file size UInt64, block count UInt64, one
/// UInt32 CRC per 4 KiB block, then a UInt32 CRC over everything before it.
enum DataFileSeal {
    static let fileName = "data.mdb.seal"
    static let blockBytes = 4096
    private static let magic = Array("LNSEAL01".utf8)

    static func path(in directory: String) -> String { FileSystem.join(directory, fileName) }

    static func exists(in directory: String) -> Bool { FileSystem.exists(path(in: directory)) }

    /// Seals the current `data.mdb`. Call only while no writer has the file open.
    static func write(in directory: String) throws {
        let dataPath = FileSystem.join(directory, "data.mdb")
        let (size, blocks) = try checksumBlocks(of: dataPath)
        var bytes = magic
        bytes.appendBigEndian(UInt64(size))
        bytes.appendBigEndian(UInt64(blocks.count))
        bytes.reserveCapacity(bytes.count + blocks.count * 4 + 4)
        for crc in blocks { bytes.appendBigEndian(crc) }
        bytes.appendBigEndian(CRC32C.checksum(bytes))
        try FileSystem.writeAtomically(bytes, to: path(in: directory))
    }

    /// Throws `dataFileModified` naming the first block that differs from the seal.
    static func verify(in directory: String) throws {
        let sealPath = path(in: directory)
        let dataPath = FileSystem.join(directory, "data.mdb")
        guard let seal = try FileSystem.readAll(sealPath, bytesMax: 64 << 20) else { return }
        let expected = try parse(seal, path: sealPath)
        let (size, blocks) = try checksumBlocks(of: dataPath)
        for (block, crc) in blocks.enumerated()
        where block >= expected.blocks.count || expected.blocks[block] != crc {
            throw LogStoreError.dataFileModified(path: dataPath, page: block)
        }
        if size != expected.size || blocks.count != expected.blocks.count {
            let first = min(blocks.count, expected.blocks.count)
            throw LogStoreError.dataFileModified(path: dataPath, page: first)
        }
    }

    private static func parse(_ seal: [UInt8], path: String) throws -> (size: Int, blocks: [UInt32]) {
        let headerBytes = magic.count + 16
        guard seal.count >= headerBytes + 4, Array(seal[0..<magic.count]) == magic else {
            throw LogStoreError.corruptMetadata(name: path)
        }
        return try seal.withUnsafeBytes { bytes in
            let trailer = bytes.loadBigEndianUInt32(at: seal.count - 4)
            guard CRC32C.checksum(Array(seal[0..<(seal.count - 4)])) == trailer else {
                throw LogStoreError.corruptMetadata(name: path)
            }
            let size = bytes.loadBigEndianUInt64(at: magic.count)
            let count = bytes.loadBigEndianUInt64(at: magic.count + 8)
            guard count <= UInt64((seal.count - headerBytes - 4) / 4),
                  headerBytes + Int(count) * 4 + 4 == seal.count, size <= UInt64(Int.max)
            else { throw LogStoreError.corruptMetadata(name: path) }
            let blocks = (0..<Int(count)).map { bytes.loadBigEndianUInt32(at: headerBytes + $0 * 4) }
            return (Int(size), blocks)
        }
    }

    private static func checksumBlocks(of path: String) throws -> (size: Int, blocks: [UInt32]) {
        var size = 0
        var blocks: [UInt32] = []
        let found = try FileSystem.readChunks(path, chunkBytes: 256 * blockBytes) { chunk in
            size += chunk.count
            var offset = 0
            while offset < chunk.count {
                let end = min(offset + blockBytes, chunk.count)
                var crc = CRC32C()
                crc.update(UnsafeRawBufferPointer(rebasing: chunk[offset..<end]))
                blocks.append(crc.value)
                offset = end
            }
        }
        guard found else { throw LogStoreError.notAStore(path: path) }
        return (size, blocks)
    }
}
