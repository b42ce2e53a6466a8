/// The compact binary encoding of `Entry` and `Message` (format version 1), used on the wire
/// and in the log store.
///
/// Layout: one version byte, then fields in declaration order. Integers are LEB128 varints,
/// enums and booleans one byte, byte strings a varint length followed by the bytes, lists a
/// varint count followed by the items. Counts and lengths are checked against `Limits` and the
/// remaining input before anything is allocated, so hostile input costs at most its own size.
public enum WireCodec {
    public static let version: UInt8 = 1
}

extension Entry {
    /// Encodes this entry as a standalone record (with its own version byte).
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(WireCodec.version)
        encodeBody(into: &writer)
        return writer.bytes
    }

    /// Decodes a standalone record produced by `encoded()`.
    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.count <= Limits.encodedMessageBytesMax else { throw .limitExceeded("entry") }
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == WireCodec.version else { throw .unsupportedVersion(version) }
        self = try Entry.decodeBody(from: &reader)
        guard reader.isAtEnd else { throw .trailingBytes }
    }

    func encodeBody(into writer: inout ByteWriter) {
        writer.writeVarint(term)
        writer.writeVarint(index)
        writer.write(kind.rawValue)
        writer.writeVarint(requestID.client)
        writer.writeVarint(requestID.sequence)
        writer.writeBytes(data)
    }

    static func decodeBody(from reader: inout ByteReader) throws(DecodingError) -> Entry {
        let term = try reader.readVarint()
        let index = try reader.readVarint()
        guard let kind = EntryKind(rawValue: try reader.readByte()) else {
            throw .invalidValue("entry kind")
        }
        let client = try reader.readVarint()
        let sequence = try reader.readVarint()
        guard client != 0 || sequence == 0 else { throw .invalidValue("request ID") }
        let data = try reader.readBytes(maximum: Limits.proposalBytesMax, "entry data")
        return Entry(
            term: term, index: index, kind: kind,
            requestID: RequestID(client: client, sequence: sequence), data: data)
    }
}

extension Message {
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(WireCodec.version)
        writer.write(kind.rawValue)
        for field in [from, to, term, logTerm, index, commit] { writer.writeVarint(field) }
        writer.write(reject ? 1 : 0)
        writer.writeVarint(rejectHint)
        writer.writeVarint(context)
        writer.writeVarint(UInt64(entries.count))
        for entry in entries { entry.encodeBody(into: &writer) }
        if let snapshot {
            writer.write(1)
            Message.encode(snapshot, into: &writer)
        } else {
            writer.write(0)
        }
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws(DecodingError) {
        guard bytes.count <= Limits.encodedMessageBytesMax else { throw .limitExceeded("message") }
        var reader = ByteReader(bytes)
        let version = try reader.readByte()
        guard version == WireCodec.version else { throw .unsupportedVersion(version) }
        guard let kind = MessageKind(rawValue: try reader.readByte()) else {
            throw .invalidValue("message kind")
        }
        self.init(kind: kind)
        from = try reader.readVarint()
        to = try reader.readVarint()
        term = try reader.readVarint()
        logTerm = try reader.readVarint()
        index = try reader.readVarint()
        commit = try reader.readVarint()
        reject = try reader.readBool()
        rejectHint = try reader.readVarint()
        context = try reader.readVarint()
        let count = try reader.readCount(maximum: Limits.messageEntriesMax, "entries")
        for _ in 0..<count { entries.append(try Entry.decodeBody(from: &reader)) }
        if try reader.readBool() { snapshot = try Message.decodeSnapshot(from: &reader) }
        guard reader.isAtEnd else { throw .trailingBytes }
        try validate()
    }

    /// Checks cross-field rules a well-formed sender always satisfies.
    private func validate() throws(DecodingError) {
        guard from != noNode, to != noNode else { throw .invalidValue("node ID 0") }
        for (offset, entry) in entries.enumerated() where entry.index != index + 1 + UInt64(offset) {
            throw .invalidValue("entries not contiguous after index \(index)")
        }
        guard entries.isEmpty || kind == .append else { throw .invalidValue("entries on \(kind)") }
        guard (snapshot != nil) == (kind == .snapshot) else { throw .invalidValue("snapshot") }
    }

    static func encode(_ snapshot: Snapshot, into writer: inout ByteWriter) {
        writer.writeVarint(snapshot.metadata.index)
        writer.writeVarint(snapshot.metadata.term)
        let voters = snapshot.metadata.configuration.voters
        writer.writeVarint(UInt64(voters.count))
        for voter in voters { writer.writeVarint(voter) }
        writer.writeBytes(snapshot.data)
    }

    static func decodeSnapshot(from reader: inout ByteReader) throws(DecodingError) -> Snapshot {
        let index = try reader.readVarint()
        let term = try reader.readVarint()
        let count = try reader.readCount(maximum: Limits.votersMax, "voters")
        var voters: [NodeID] = []
        for _ in 0..<count {
            let voter = try reader.readVarint()
            guard voter != noNode, !voters.contains(voter) else { throw .invalidValue("voter") }
            voters.append(voter)
        }
        let data = try reader.readBytes(maximum: Limits.encodedMessageBytesMax, "snapshot data")
        return Snapshot(
            metadata: SnapshotMetadata(
                index: index, term: term, configuration: ConfigurationState(voters: voters)),
            data: data)
    }
}
