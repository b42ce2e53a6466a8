/// Why bytes are not a readable event record, or an event cannot be written as one.
///
/// A replica that meets any of these on its log must stop rather than skip the entry (Consul's
/// rule): folding a log it only partly understands would make its projections diverge. The
/// cases name the number or field involved, so the operator knows which newer schema the log
/// needs or which field is corrupt.
public enum EventCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The input exceeds `Limits.eventBytesMax`.
    case inputTooLarge(bytes: Int, maxBytes: Int)
    /// Not a well-formed protobuf `EventRecord` (truncated, bad wire types, invalid UTF-8, …).
    case malformed(reason: String)
    /// The envelope's `schema_version` is not one this build reads.
    case unknownEventVersion(UInt64)
    /// The record's event is in a oneof field this build does not know: a newer event type or a
    /// newer version of a known one.
    case unknownEventType(fieldNumber: UInt64)
    /// The record carries no event at all.
    case missingEvent
    /// A message holds a field this build does not know. Messages never change once written, so
    /// this is a newer writer's or a corrupt record.
    case unknownField(path: String, fieldNumber: UInt64)
    /// A field decoded but its value breaks a rule of the model; the error names the field.
    case invalidField(ValidationError)
    /// The protobuf library could not serialize the record (it has no required fields or `Any`,
    /// so this indicates a library fault rather than bad input).
    case encodingFailed(reason: String)

    public var description: String {
        switch self {
        case .inputTooLarge(let bytes, let max):
            "event record of \(bytes) bytes exceeds the limit of \(max) bytes"
        case .malformed(let reason): "malformed event record: \(reason)"
        case .unknownEventVersion(let version):
            "unknown event record schema version \(version) (this build reads \(EventCodec.schemaVersion))"
        case .unknownEventType(let number):
            "unknown event type: EventRecord oneof field \(number) is not known to this build"
        case .missingEvent: "event record has no event"
        case .unknownField(let path, let number):
            "unknown field \(number) in \(path.isEmpty ? "EventRecord" : path)"
        case .invalidField(let error): "invalid event field: \(error)"
        case .encodingFailed(let reason): "cannot encode event record: \(reason)"
        }
    }
}
