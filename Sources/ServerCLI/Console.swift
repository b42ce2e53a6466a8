import Foundation

/// What a command printed, collected so tests can read it and `run()` can write it in one go.
/// Owned by the single task that runs the command.
public final class Console {
    public private(set) var standardOutput = ""
    public private(set) var standardError = ""
    /// Set when the command failed: `run()` prints `Error: <failure>` and exits 1.
    public private(set) var failure: String?

    public init() {}

    /// Appends exactly `text` to stdout (Go's `env.Printf`).
    func write(_ text: String) { standardOutput += text }
    /// Appends `text` and a newline to stdout (Go's `env.Println`).
    func line(_ text: String = "") { standardOutput += text + "\n" }
    /// Appends exactly `text` to stderr (Go's `env.ErrPrintf`).
    func writeError(_ text: String) { standardError += text }

    func fail(_ error: any Error) {
        failure = CLIFailure.describe(error)
    }

    public var exitCode: Int32 { failure == nil ? 0 : 1 }

    /// Everything SPIRE's adapter would have written to stderr, including the `Error:` line.
    public var standardErrorWithFailure: String {
        guard let failure else { return standardError }
        return standardError + "Error: \(failure)\n"
    }

    /// Writes the collected output to the process's stdout and stderr.
    func emit() {
        FileHandle.standardOutput.write(Data(standardOutput.utf8))
        FileHandle.standardError.write(Data(standardErrorWithFailure.utf8))
    }
}
