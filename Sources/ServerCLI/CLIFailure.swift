import GRPCCore

/// A command failure printed as SPIRE's adapter prints it: `Error: <message>` on stderr, exit 1.
public struct CLIFailure: Error, CustomStringConvertible, Hashable, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// Go's `fmt.Errorf("<context>: %w", err)`.
    init(_ context: String, wrapping error: any Error) {
        self.message = "\(context): \(Self.describe(error))"
    }

    public var description: String { message }

    /// The text Go's `err.Error()` would give: gRPC status errors read
    /// `rpc error: code = NotFound desc = …` exactly as grpc-go renders them.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let failure as CLIFailure: failure.message
        case let rpc as RPCError: "rpc error: code = \(GoStatusCode.name(rpc.code.rawValue)) desc = \(rpc.message)"
        default: String(describing: error)
        }
    }
}

/// Runs `body`, wrapping any error as `<context>: <error>` (Go's `%w`).
func wrappingErrors<Result>(_ context: String, _ body: () async throws -> Result) async throws(CLIFailure) -> Result {
    do {
        return try await body()
    } catch {
        throw CLIFailure(context, wrapping: error)
    }
}

/// grpc-go's names for status codes (`codes.Code.String()`), used in `rpc error:` lines and in
/// per-item batch results.
enum GoStatusCode {
    static let names = [
        "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
        "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
        "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
    ]

    static func name(_ code: Int) -> String {
        names.indices.contains(code) ? names[code] : "Code(\(code))"
    }
}
