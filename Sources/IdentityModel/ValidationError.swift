import SPIFFE

/// Why a value is not a valid part of the identity model, and which field it was.
///
/// Constructors of leaf values (`Selector`, `RegistrationEntryID`, …) throw it with the field
/// they know; the codec prefixes the path inside the event (`registration_entry_created_v1.entry.
/// selectors[2].value`) so a rejected log record names exactly what was wrong.
public struct ValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable, CustomStringConvertible {
        /// A required value is empty or absent.
        case empty
        case tooLong(maxBytes: Int)
        case tooMany(max: Int)
        /// A byte the field's alphabet does not allow.
        case invalidCharacter
        /// No `:` where one is required (selector `type:value`, address `host:port`).
        case missingSeparator
        case wrongLength(expectedBytes: Int)
        case negative
        /// Two values that must be ordered are not (e.g. `not_before` after `not_after`).
        case outOfOrder
        case invalidSPIFFEID(SPIFFEIDError)
        case duplicate

        public var description: String {
            switch self {
            case .empty: "is required"
            case .tooLong(let max): "is longer than \(max) bytes"
            case .tooMany(let max): "has more than \(max) elements"
            case .invalidCharacter: "contains a character that is not allowed"
            case .missingSeparator: "is missing its \":\" separator"
            case .wrongLength(let expected): "must be exactly \(expected) bytes"
            case .negative: "must not be negative"
            case .outOfOrder: "is out of order"
            case .invalidSPIFFEID(let error): error.description
            case .duplicate: "contains a duplicate"
            }
        }
    }

    /// Dotted path of the offending field; empty when the value itself is the subject.
    public let field: String
    public let reason: Reason

    public init(field: String, _ reason: Reason) {
        self.field = field
        self.reason = reason
    }

    /// The same error seen from a containing value: `selectors[1]` + `value` → `selectors[1].value`.
    public func inside(_ path: String) -> ValidationError {
        ValidationError(field: field.isEmpty ? path : path + "." + field, reason)
    }

    public var description: String { field.isEmpty ? "\(reason)" : "\(field) \(reason)" }
}

/// Shared checks for the string-valued identifiers of the model.
enum TextRule {
    /// Checks length and alphabet; `allowed` sees each UTF-8 byte.
    static func check(
        _ text: String, field: String, maxBytes: Int, allowed: (UInt8) -> Bool
    ) throws(ValidationError) {
        if text.isEmpty { throw ValidationError(field: field, .empty) }
        if text.utf8.count > maxBytes { throw ValidationError(field: field, .tooLong(maxBytes: maxBytes)) }
        for byte in text.utf8 where !allowed(byte) {
            throw ValidationError(field: field, .invalidCharacter)
        }
    }

    /// Printable ASCII without space: identifiers that appear in logs and CLI output.
    static func isVisibleASCII(_ byte: UInt8) -> Bool { byte > 0x20 && byte < 0x7F }

    /// Printable ASCII including space.
    static func isPrintableASCII(_ byte: UInt8) -> Bool { byte >= 0x20 && byte < 0x7F }

    /// Any UTF-8 byte except ASCII control characters, so free text cannot forge log lines.
    static func isNotControl(_ byte: UInt8) -> Bool { byte >= 0x20 && byte != 0x7F }

    /// Host-name-like names: letters, digits, `.`, `-`, `_`.
    static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"),
            UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    /// Lowercase hex of bytes, for descriptions.
    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var result: [UInt8] = []
        for byte in bytes {
            result.append(digits[Int(byte >> 4)])
            result.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: result, as: UTF8.self)
    }
}
