/// The syntax tree of the HCL subset SPIRE's configuration files use (HCL 1): blocks with
/// optional string labels, `key = value` attributes, strings, numbers, booleans, lists and
/// nested objects. Every node remembers where it came from so errors can say file:line.

/// A position in a configuration file.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

public indirect enum HCLValue: Sendable, Hashable {
    case string(String)
    /// The number's source text; readers convert it to the type they expect.
    case number(String)
    case bool(Bool)
    case list([HCLNode])
    case object(HCLObject)

    /// How the value's type is named in error messages.
    var kindName: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .list: "a list"
        case .object: "a block"
        }
    }
}

public struct HCLNode: Sendable, Hashable {
    public let value: HCLValue
    public let location: SourceLocation
}

/// One item of an object: `name = value`, `name { … }` or `name "label" { … }`.
public struct HCLItem: Sendable, Hashable {
    public let name: String
    public let labels: [String]
    public let value: HCLNode
    public let location: SourceLocation
}

public struct HCLObject: Sendable, Hashable {
    public var items: [HCLItem]
}
