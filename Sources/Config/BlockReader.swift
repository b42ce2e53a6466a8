/// Reads typed values out of one HCL object, remembering which keys were used so that
/// `finish` can report the rest: keys SPIRE defines but Lineage does not implement become
/// warnings, anything else is an error naming the key and its file:line.
///
/// Values take SPIRE's (weakly typed HCL 1) forms: `bind_port = "8081"` and `bind_port = 8081`
/// are the same, and so are `true` and `"true"`.
struct BlockReader {
    let object: HCLObject
    /// Dotted path of this block, for messages (`server.ca_subject`).
    let path: String
    let location: SourceLocation
    private var consumed: Set<String> = []

    init(_ object: HCLObject, path: String, location: SourceLocation) {
        self.object = object
        self.path = path
        self.location = location
    }

    // MARK: - Scalars

    /// The single item named `key`; a key given twice is an error.
    mutating func item(_ key: String) throws(ConfigError) -> HCLItem? {
        consumed.insert(key)
        let matches = object.items.filter { $0.name == key }
        if matches.count > 1 {
            throw ConfigError("\"\(qualified(key))\" is set more than once (first at line \(matches[0].location.line))",
                              at: matches[1].location)
        }
        guard let item = matches.first else { return nil }
        if !item.labels.isEmpty {
            throw ConfigError("\"\(qualified(key))\" does not take a label", at: item.location)
        }
        return item
    }

    mutating func string(_ key: String) throws(ConfigError) -> String? {
        guard let item = try item(key) else { return nil }
        switch item.value.value {
        case .string(let text): return text
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        default: throw typeError(item, expected: "a string")
        }
    }

    mutating func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let item = try item(key) else { return nil }
        switch item.value.value {
        case .bool(let flag): return flag
        case .string("true"), .number("1"): return true
        case .string("false"), .number("0"): return false
        default: throw typeError(item, expected: "a boolean (true or false)")
        }
    }

    mutating func int(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let item = try item(key) else { return nil }
        let text: String
        switch item.value.value {
        case .number(let number): text = number
        case .string(let string): text = string
        default: throw typeError(item, expected: "an integer")
        }
        guard let value = Int(text) else {
            throw ConfigError("\"\(qualified(key))\" must be an integer, got \"\(text)\"", at: item.value.location)
        }
        guard range.contains(value) else {
            throw ConfigError("\"\(qualified(key))\" must be between \(range.lowerBound) and \(range.upperBound), got \(value)",
                              at: item.value.location)
        }
        return value
    }

    mutating func port(_ key: String) throws(ConfigError) -> UInt16? {
        try int(key, range: 0...65535).map { UInt16($0) }
    }

    mutating func duration(_ key: String) throws(ConfigError) -> Duration? {
        guard let text = try string(key), let item = object.items.first(where: { $0.name == key }) else { return nil }
        do {
            return try GoDuration.parse(text)
        } catch {
            throw ConfigError("\"\(qualified(key))\": \(error.message)", at: item.value.location)
        }
    }

    mutating func stringList(_ key: String) throws(ConfigError) -> [String]? {
        guard let item = try item(key) else { return nil }
        switch item.value.value {
        case .string(let single): return [single]
        case .list(let nodes):
            var strings: [String] = []
            for node in nodes {
                guard case .string(let text) = node.value else {
                    throw ConfigError("\"\(qualified(key))\" must be a list of strings, found \(node.value.kindName)",
                                      at: node.location)
                }
                strings.append(text)
            }
            return strings
        default: throw typeError(item, expected: "a list of strings")
        }
    }

    /// A value that must be one of `choices`.
    mutating func choice(_ key: String, from choices: [String]) throws(ConfigError) -> String? {
        guard let text = try string(key), let item = object.items.first(where: { $0.name == key }) else { return nil }
        guard choices.contains(text) else {
            throw ConfigError("\"\(qualified(key))\" must be one of \(choices.joined(separator: ", ")), got \"\(text)\"",
                              at: item.value.location)
        }
        return text
    }

    // MARK: - Blocks

    /// An unlabeled nested block (`ca_subject { … }` or `ca_subject = { … }`).
    mutating func block(_ key: String) throws(ConfigError) -> BlockReader? {
        guard let item = try item(key) else { return nil }
        return try Self.reader(for: item, path: qualified(key))
    }

    /// Every `key "label" { … }` block, in file order (plugins: `NodeAttestor "join_token" {}`).
    mutating func labeledBlocks(_ key: String) throws(ConfigError) -> [(label: String, reader: BlockReader, location: SourceLocation)] {
        consumed.insert(key)
        var blocks: [(label: String, reader: BlockReader, location: SourceLocation)] = []
        for item in object.items where item.name == key {
            guard item.labels.count == 1 else {
                throw ConfigError("\"\(qualified(key))\" needs exactly one name label, as in \(key) \"name\" { … }",
                                  at: item.location)
            }
            let label = item.labels[0]
            blocks.append((label, try Self.reader(for: item, path: "\(qualified(key)) \"\(label)\""), item.location))
        }
        return blocks
    }

    static func reader(for item: HCLItem, path: String) throws(ConfigError) -> BlockReader {
        // HCL 1 lets a block be written as a one-element list of objects (`key = [{ … }]`).
        switch item.value.value {
        case .object(let object):
            return BlockReader(object, path: path, location: item.location)
        case .list(let nodes) where nodes.count == 1:
            if case .object(let object) = nodes[0].value {
                return BlockReader(object, path: path, location: item.location)
            }
        default:
            break
        }
        throw ConfigError("\"\(path)\" must be a block, found \(item.value.value.kindName)", at: item.location)
    }

    // MARK: - Leftovers

    /// Reports every key that was not read: a warning if `spireKeys` lists it (SPIRE defines it,
    /// Lineage ignores it), an error otherwise.
    func finish(spireKeys: Set<String> = [], warnings: inout [ConfigWarning]) throws(ConfigError) {
        for item in object.items where !consumed.contains(item.name) {
            if spireKeys.contains(item.name) {
                warnings.append(ConfigWarning(
                    location: item.location,
                    message: "\"\(qualified(item.name))\" is a SPIRE setting that Lineage does not implement; it is ignored"))
            } else {
                throw ConfigError("unknown key \"\(qualified(item.name))\"", at: item.location)
            }
        }
    }

    func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func typeError(_ item: HCLItem, expected: String) -> ConfigError {
        ConfigError("\"\(qualified(item.name))\" must be \(expected), found \(item.value.value.kindName)",
                    at: item.value.location)
    }
}
