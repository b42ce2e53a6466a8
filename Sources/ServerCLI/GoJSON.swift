import SPIFFE

/// JSON text as Go's `encoding/json` writes it, so `-output json` is byte-for-byte what SPIRE
/// prints: object members sorted by name (byte order), `<`, `>`, `&`, U+2028 and U+2029 escaped.
enum GoJSON {
    static func compact(_ value: JSONValue) -> String {
        var output = ""
        write(value, to: &output, indent: nil, depth: 0, order: sortedByName)
        return output
    }

    /// `json.Indent(…, "", indent)` over a document whose members come in `order`.
    static func indented(
        _ value: JSONValue, indent: String, order: @escaping ([String]) -> [String] = sortedByName
    ) -> String {
        var output = ""
        write(value, to: &output, indent: indent, depth: 0, order: order)
        return output
    }

    static func sortedByName(_ names: [String]) -> [String] {
        names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    private static func write(
        _ value: JSONValue, to output: inout String, indent: String?, depth: Int, order: ([String]) -> [String]
    ) {
        func newline(_ level: Int) {
            guard let indent else { return }
            output += "\n" + String(repeating: indent, count: level)
        }
        switch value {
        case .null: output += "null"
        case .bool(let flag): output += flag ? "true" : "false"
        case .number(let number): output += number.literal
        case .string(let text): writeString(text, to: &output)
        case .array(let elements):
            guard !elements.isEmpty else { output += "[]"; return }
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                newline(depth + 1)
                write(element, to: &output, indent: indent, depth: depth + 1, order: order)
            }
            newline(depth)
            output += "]"
        case .object(let members):
            guard !members.isEmpty else { output += "{}"; return }
            output += "{"
            for (index, name) in order(Array(members.keys)).enumerated() {
                if index > 0 { output += "," }
                newline(depth + 1)
                writeString(name, to: &output)
                output += indent == nil ? ":" : ": "
                write(members[name] ?? .null, to: &output, indent: indent, depth: depth + 1, order: order)
            }
            newline(depth)
            output += "}"
        }
    }

    private static func writeString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "<", ">", "&", "\u{2028}", "\u{2029}": output += unicodeEscape(scalar.value)
            case _ where scalar.value < 0x20: output += unicodeEscape(scalar.value)
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}

extension GoJSON {
    /// A Go struct's encoding: top-level members in declaration order.
    static func ordered(_ value: JSONValue, order: [String]) -> String {
        guard case .object(let members) = value else { return compact(value) }
        let names = order.filter { members[$0] != nil }
        return "{" + names.map { "\(compact(.string($0))):\(compact(members[$0] ?? .null))" }.joined(separator: ",") + "}"
    }
}
