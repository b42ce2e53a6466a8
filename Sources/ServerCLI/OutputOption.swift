import ArgumentParser
import SwiftProtobuf

/// `-output pretty|json` (SPIRE's cliprinter flag): pretty is each verb's SPIRE text, json is the
/// response as protobuf JSON.
enum OutputFormat: String, ExpressibleByArgument, Sendable {
    case pretty
    case json

    init?(argument: String) {
        switch argument.lowercased() {
        case "json": self = .json
        case "pretty", "prettyprint": self = .pretty
        default: return nil
        }
    }
}

struct OutputOption: ParsableArguments, Sendable {
    @Option(
        name: .customLong("output", withSingleDash: true), parsing: .unconditional,
        help: "Desired output format (pretty, json); default: pretty.")
    var output: OutputFormat = .pretty

    /// Prints `message` as JSON, or through `pretty` (the verb's SPIRE text).
    func print<Response: SwiftProtobuf.Message>(
        _ message: Response, to console: Console, pretty: (Response, Console) throws -> Void
    ) throws {
        switch output {
        case .json: console.line(try ProtoJSON.render(message))
        case .pretty: try pretty(message, console)
        }
    }
}
