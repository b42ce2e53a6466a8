/// A recursive-descent parser for the HCL 1 subset SPIRE configuration files use.
///
/// Supported: `#`, `//` and `/* */` comments; identifiers (letters, digits, `_`, `-`, `.`);
/// double-quoted strings with `\n \t \r \" \\ \uXXXX` escapes; heredocs (`<<EOF … EOF`, and the
/// indented `<<-EOF` form); decimal numbers with an optional sign; `true`/`false`; lists
/// with optional trailing commas; objects; and blocks with string labels (`NodeAttestor
/// "join_token" { … }`). Items are separated by newlines or commas. Input size and nesting depth
/// are bounded so a hostile file cannot exhaust memory or the stack.
public struct HCLParser {
    public enum Limits {
        public static let fileBytesMax = 1024 * 1024
        public static let nestingDepthMax = 32
        public static let stringBytesMax = 256 * 1024
    }

    private let bytes: [UInt8]
    private let file: String
    private var offset = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0

    /// Parses `text` as the contents of `file` (used only in locations).
    public static func parse(_ text: String, file: String) throws(ConfigError) -> HCLObject {
        var parser = HCLParser(bytes: Array(text.utf8), file: file)
        if parser.bytes.count > Limits.fileBytesMax {
            throw ConfigError("file is larger than \(Limits.fileBytesMax) bytes", at: parser.location)
        }
        let object = try parser.parseItems(until: nil)
        return object
    }

    private init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    private var location: SourceLocation {
        SourceLocation(file: file, line: line, column: offset - lineStart + 1)
    }

    // MARK: - Items

    /// Parses items until `closing` (or the end of input when nil).
    private mutating func parseItems(until closing: UInt8?) throws(ConfigError) -> HCLObject {
        var items: [HCLItem] = []
        while true {
            skipTrivia(newlines: true)
            guard let byte = peek() else {
                if closing != nil { throw ConfigError("unexpected end of file: missing \"}\"", at: location) }
                return HCLObject(items: items)
            }
            if byte == closing {
                offset += 1
                return HCLObject(items: items)
            }
            if byte == UInt8(ascii: ",") {
                offset += 1
                continue
            }
            items.append(try parseItem())
        }
    }

    private mutating func parseItem() throws(ConfigError) -> HCLItem {
        let itemLocation = location
        let name = try parseKey()
        var labels: [String] = []
        while true {
            skipTrivia(newlines: false)
            guard let byte = peek() else { throw ConfigError("expected \"=\" or \"{\" after \"\(name)\"", at: location) }
            switch byte {
            case UInt8(ascii: "="):
                offset += 1
                if !labels.isEmpty {
                    throw ConfigError("\"\(name)\" has labels but is assigned with \"=\"", at: itemLocation)
                }
                skipTrivia(newlines: false)
                let value = try parseValue()
                return HCLItem(name: name, labels: [], value: value, location: itemLocation)
            case UInt8(ascii: "{"):
                let value = try parseValue()
                return HCLItem(name: name, labels: labels, value: value, location: itemLocation)
            case UInt8(ascii: "\""):
                labels.append(try parseString())
            default:
                if isIdentifierByte(byte) {
                    labels.append(try parseIdentifier())
                } else {
                    throw ConfigError("expected \"=\" or \"{\" after \"\(name)\", found \(describe(byte))", at: location)
                }
            }
        }
    }

    private mutating func parseKey() throws(ConfigError) -> String {
        guard let byte = peek() else { throw ConfigError("expected a key", at: location) }
        if byte == UInt8(ascii: "\"") { return try parseString() }
        guard isIdentifierStart(byte) else { throw ConfigError("expected a key, found \(describe(byte))", at: location) }
        return try parseIdentifier()
    }

    // MARK: - Values

    private mutating func parseValue() throws(ConfigError) -> HCLNode {
        let valueLocation = location
        guard let byte = peek() else { throw ConfigError("expected a value", at: location) }
        switch byte {
        case UInt8(ascii: "\""):
            return HCLNode(value: .string(try parseString()), location: valueLocation)
        case UInt8(ascii: "<") where peek(at: 1) == UInt8(ascii: "<"):
            return HCLNode(value: .string(try parseHeredoc()), location: valueLocation)
        case UInt8(ascii: "{"):
            offset += 1
            try enterNesting()
            let object = try parseItems(until: UInt8(ascii: "}"))
            depth -= 1
            return HCLNode(value: .object(object), location: valueLocation)
        case UInt8(ascii: "["):
            offset += 1
            try enterNesting()
            let list = try parseList()
            depth -= 1
            return HCLNode(value: .list(list), location: valueLocation)
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return HCLNode(value: .number(try parseNumber()), location: valueLocation)
        default:
            if isIdentifierStart(byte) {
                let word = try parseIdentifier()
                switch word {
                case "true": return HCLNode(value: .bool(true), location: valueLocation)
                case "false": return HCLNode(value: .bool(false), location: valueLocation)
                default: throw ConfigError("unexpected word \"\(word)\": strings must be quoted", at: valueLocation)
                }
            }
            throw ConfigError("expected a value, found \(describe(byte))", at: valueLocation)
        }
    }

    private mutating func parseList() throws(ConfigError) -> [HCLNode] {
        var elements: [HCLNode] = []
        while true {
            skipTrivia(newlines: true)
            guard let byte = peek() else { throw ConfigError("unexpected end of file: missing \"]\"", at: location) }
            if byte == UInt8(ascii: "]") {
                offset += 1
                return elements
            }
            elements.append(try parseValue())
            skipTrivia(newlines: true)
            guard let next = peek() else { throw ConfigError("unexpected end of file: missing \"]\"", at: location) }
            if next == UInt8(ascii: ",") {
                offset += 1
            } else if next != UInt8(ascii: "]") {
                throw ConfigError("expected \",\" or \"]\" in list, found \(describe(next))", at: location)
            }
        }
    }

    private mutating func enterNesting() throws(ConfigError) {
        depth += 1
        if depth > Limits.nestingDepthMax {
            throw ConfigError("nesting is deeper than \(Limits.nestingDepthMax) levels", at: location)
        }
    }

    // MARK: - Tokens

    private mutating func parseIdentifier() throws(ConfigError) -> String {
        let start = offset
        while let byte = peek(), isIdentifierByte(byte) { offset += 1 }
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    private mutating func parseNumber() throws(ConfigError) -> String {
        let start = offset
        let numberLocation = location
        if peek() == UInt8(ascii: "-") || peek() == UInt8(ascii: "+") { offset += 1 }
        while let byte = peek(), isDigit(byte) || byte == UInt8(ascii: ".") || (byte | 0x20) == UInt8(ascii: "e") {
            offset += 1
        }
        let text = String(decoding: bytes[start..<offset], as: UTF8.self)
        guard Double(text) != nil else { throw ConfigError("\"\(text)\" is not a number", at: numberLocation) }
        return text
    }

    private mutating func parseString() throws(ConfigError) -> String {
        let stringLocation = location
        offset += 1  // opening quote
        var scalars: [UInt8] = []
        while true {
            guard let byte = peek() else { throw ConfigError("unterminated string", at: stringLocation) }
            if byte == UInt8(ascii: "\n") { throw ConfigError("newline in string", at: stringLocation) }
            offset += 1
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                try appendEscape(to: &scalars, stringLocation: stringLocation)
            } else {
                scalars.append(byte)
            }
            if scalars.count > Limits.stringBytesMax {
                throw ConfigError("string is longer than \(Limits.stringBytesMax) bytes", at: stringLocation)
            }
        }
        return String(decoding: scalars, as: UTF8.self)
    }

    private mutating func appendEscape(to scalars: inout [UInt8], stringLocation: SourceLocation) throws(ConfigError) {
        guard let escaped = peek() else { throw ConfigError("unterminated string", at: stringLocation) }
        offset += 1
        switch escaped {
        case UInt8(ascii: "n"): scalars.append(UInt8(ascii: "\n"))
        case UInt8(ascii: "t"): scalars.append(UInt8(ascii: "\t"))
        case UInt8(ascii: "r"): scalars.append(UInt8(ascii: "\r"))
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escaped)
        case UInt8(ascii: "u"):
            guard offset + 4 <= bytes.count,
                let code = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16),
                let scalar = Unicode.Scalar(code)
            else { throw ConfigError("invalid \\u escape in string", at: location) }
            offset += 4
            scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
        default:
            throw ConfigError("unknown escape \\\(describe(escaped)) in string", at: location)
        }
    }

    /// `<<EOF\n…\nEOF` (or `<<-EOF`, whose closing marker may be indented).
    private mutating func parseHeredoc() throws(ConfigError) -> String {
        let heredocLocation = location
        offset += 2
        if peek() == UInt8(ascii: "-") { offset += 1 }
        let marker = try parseIdentifier()
        guard !marker.isEmpty, peek() == UInt8(ascii: "\n") else {
            throw ConfigError("a heredoc marker must be followed by a newline", at: heredocLocation)
        }
        consumeNewline()
        var lines: [String] = []
        while offset < bytes.count {
            let start = offset
            while let byte = peek(), byte != UInt8(ascii: "\n") { offset += 1 }
            let text = String(decoding: bytes[start..<offset], as: UTF8.self)
            if text.trimmingLeadingWhitespace() == marker { return lines.joined(separator: "\n") + "\n" }
            lines.append(text)
            if peek() == UInt8(ascii: "\n") { consumeNewline() }
        }
        throw ConfigError("heredoc \"\(marker)\" is not terminated", at: heredocLocation)
    }

    // MARK: - Trivia

    private mutating func skipTrivia(newlines: Bool) {
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                offset += 1
            case UInt8(ascii: "\n"):
                guard newlines else { return }
                consumeNewline()
            case UInt8(ascii: "#"):
                skipLineComment()
            case UInt8(ascii: "/") where peek(at: 1) == UInt8(ascii: "/"):
                skipLineComment()
            case UInt8(ascii: "/") where peek(at: 1) == UInt8(ascii: "*"):
                offset += 2
                while offset < bytes.count && !(peek() == UInt8(ascii: "*") && peek(at: 1) == UInt8(ascii: "/")) {
                    if peek() == UInt8(ascii: "\n") { consumeNewline() } else { offset += 1 }
                }
                offset = min(offset + 2, bytes.count)
            default:
                return
            }
        }
    }

    private mutating func skipLineComment() {
        while let byte = peek(), byte != UInt8(ascii: "\n") { offset += 1 }
    }

    private mutating func consumeNewline() {
        offset += 1
        line += 1
        lineStart = offset
    }

    private func peek(at distance: Int = 0) -> UInt8? {
        offset + distance < bytes.count ? bytes[offset + distance] : nil
    }

    private func isIdentifierStart(_ byte: UInt8) -> Bool {
        (byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z") || byte == UInt8(ascii: "_")
    }

    private func isIdentifierByte(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || isDigit(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func describe(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7f ? "\"\(Character(Unicode.Scalar(byte)))\"" : "byte 0x\(String(byte, radix: 16))"
    }
}

extension String {
    fileprivate func trimmingLeadingWhitespace() -> Substring {
        self[...].drop { $0 == " " || $0 == "\t" }
    }
}
