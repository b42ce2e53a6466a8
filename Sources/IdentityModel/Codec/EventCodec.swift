#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf

/// Encodes event envelopes as `lineage.identity.v1.EventRecord` protobuf bytes and back.
///
/// This is the log's storage format, so it is explicit and versioned (STYLE.md, "Do this" 8):
/// - `schema_version` versions the envelope; each event message carries its own version in
///   its name (`AgentAttestedV1`), and a message once written never changes.
/// - Decoding **stops** at anything it does not understand — an unknown schema version, an
///   unknown oneof case, an unknown field in any message — and says which number it met. It
///   never skips: replicas folding a partly understood log would diverge.
/// - Every value is validated on decode (SPIFFE IDs parse, selectors and bounds hold) and the
///   error names the field. Encoding runs the same validation on the record it built, so the
///   leader cannot append bytes a follower would refuse.
/// - Input size is bounded by `Limits.eventBytesMax` and nesting by `Limits.messageDepthMax`.
///
/// Golden-bytes tests pin the encoding of every event version so stored logs stay readable.
public enum EventCodec {
    /// The envelope schema version this build writes and reads.
    public static let schemaVersion: UInt32 = 1

    /// The record bytes for `envelope`, after checking it decodes back under the same rules.
    public static func encode(_ envelope: EventEnvelope) throws(EventCodecError) -> [UInt8] {
        try encodeChecked(envelope).bytes
    }

    /// The record bytes for `envelope`, and the envelope the reader's validation made of the
    /// record: the value `decode(bytes)` returns, so a proposer can hand it to its own apply
    /// instead of decoding the bytes it just wrote.
    public static func encodeChecked(_ envelope: EventEnvelope) throws(EventCodecError) -> (bytes: [UInt8], decoded: EventEnvelope) {
        let record = makeRecord(envelope)
        // The paired check: what we write must pass the reader's validation.
        let decoded = try readRecord(record)
        let bytes: [UInt8]
        do {
            bytes = try record.serializedBytes()
        } catch {
            throw .encodingFailed(reason: String(describing: error))
        }
        if bytes.count > Limits.eventBytesMax {
            throw .inputTooLarge(bytes: bytes.count, maxBytes: Limits.eventBytesMax)
        }
        return (bytes, decoded)
    }

    /// Decodes and validates one record.
    public static func decode(_ bytes: [UInt8]) throws(EventCodecError) -> EventEnvelope {
        if bytes.count > Limits.eventBytesMax {
            throw .inputTooLarge(bytes: bytes.count, maxBytes: Limits.eventBytesMax)
        }
        try checkSchemaVersion(bytes)
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = Limits.messageDepthMax
        let record: Lineage_Identity_V1_EventRecord
        do {
            record = try Lineage_Identity_V1_EventRecord(serializedBytes: bytes, options: options)
        } catch {
            throw .malformed(reason: String(describing: error))
        }
        return try readRecord(record)
    }

    /// Reads `schema_version` straight from the wire before the generated decoder runs, so a
    /// record of a future schema is reported as such even if its other fields changed shape.
    /// An absent version reads as 0, which no schema uses.
    static func checkSchemaVersion(_ bytes: [UInt8]) throws(EventCodecError) {
        var scanner = WireScanner(bytes)
        var version: UInt64 = 0
        while true {
            let next: WireScanner.Field?
            do throws(WireScanner.Failure) {
                next = try scanner.next()
            } catch {
                throw .malformed(reason: error.reason)
            }
            guard let field = next else { break }
            guard field.number == 1 else { continue }
            guard field.wireType == .varint else { throw .malformed(reason: "schema_version is not a varint") }
            version = field.varint  // protobuf semantics: the last occurrence wins
        }
        guard version == UInt64(schemaVersion) else { throw .unknownEventVersion(version) }
    }
}
