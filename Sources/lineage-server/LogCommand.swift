import ArgumentParser
import CLISupport
import Foundation
import IdentityModel
import LogStore
import Server

/// `lineage-server log …`: the identity log as history. Every subcommand opens the data
/// directory read-only, so it works on a stopped server and beside a running one.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "Reads, exports, verifies and backs up the identity log",
        subcommands: [Tail.self, Export.self, Replay.self, Verify.self, Backup.self])

    struct DataDirOption: ParsableArguments {
        @Option(name: .customLong("dataDir", withSingleDash: true), help: "The server's data directory")
        var dataDir = ".data"

        func openStore() throws -> LogStore {
            let path = DataDirectory.logStore(dataDir)
            guard FileManager.default.fileExists(atPath: path) else {
                printError("no identity log at \(path) (is -dataDir right?)")
                throw ExitCode(1)
            }
            do {
                return try LogStore(directory: path, options: .readOnly)
            } catch {
                printError("cannot open the identity log at \(path): \(error)")
                throw ExitCode(1)
            }
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Prints the last entries (and new ones with -follow)")
        @OptionGroup var options: DataDirOption
        @Option(name: .customShort("n"), help: "How many entries to print") var count: UInt64 = 20
        @Flag(name: .customLong("follow", withSingleDash: true), help: "Keep printing entries as they commit")
        var follow = false

        func run() throws {
            let store = try options.openStore()
            defer { try? store.close() }
            var next = try store.lastIndex >= count ? try store.lastIndex - count + 1 : 0
            repeat {
                try LogHistory.forEachRecord(in: store, from: next) { record in
                    print(LogHistory.textLine(record))
                    next = record.index + 1
                    return true
                }
                if follow { Thread.sleep(forTimeInterval: 0.2) }
            } while follow
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Writes entries as JSON Lines")
        @OptionGroup var options: DataDirOption
        @Option(name: .customLong("from", withSingleDash: true), help: "First log index") var from: UInt64?
        @Option(name: .customLong("to", withSingleDash: true), help: "Last log index") var to: UInt64?

        func run() throws {
            let store = try options.openStore()
            defer { try? store.close() }
            try LogHistory.forEachRecord(in: store, from: from, to: to) { record in
                print(LogHistory.jsonLine(record))
                return true
            }
        }
    }

    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuilds the projections as they were at an index or time and prints entries, agents and bundle")
        @OptionGroup var options: DataDirOption
        @Option(name: .customLong("to", withSingleDash: true), help: "Replay through this log index") var to: UInt64?
        @Option(name: .customLong("at", withSingleDash: true), help: "Replay events stamped at or before this RFC 3339 time")
        var at: String?

        func validate() throws {
            if to != nil && at != nil { throw ValidationError("give -to INDEX or -at TIME, not both") }
            if let at, Self.timestamp(at) == nil {
                throw ValidationError("-at \(at) is not an RFC 3339 time (e.g. 2026-11-23T10:00:00Z)")
            }
        }

        func run() throws {
            let store = try options.openStore()
            defer { try? store.close() }
            let target: LogReplay.Target =
                if let to { .index(to) } else if let at, let time = Self.timestamp(at) { .time(time) } else { .end }
            do {
                print(ReplayReport.text(try LogReplay.replay(store, to: target)))
            } catch let failure as LogHistory.Failure {
                printError(failure.description)
                throw ExitCode(1)
            }
        }

        static func timestamp(_ text: String) -> Timestamp? {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            var date = formatter.date(from: text)
            if date == nil {
                formatter.formatOptions = [.withInternetDateTime]
                date = formatter.date(from: text)
            }
            return date.map { Timestamp(millisecondsSinceEpoch: Int64(($0.timeIntervalSince1970 * 1000).rounded(.down))) }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Checks checksums, index continuity, event decoding, and the stored projections against a replay")
        @OptionGroup var options: DataDirOption

        func run() throws {
            let store = try options.openStore()
            defer { try? store.close() }
            let problems = try LogHistory.verify(store)
            guard problems.isEmpty else {
                for problem in problems { printError(problem) }
                throw ExitCode(1)
            }
            print("identity log is intact: indexes \(try store.firstIndex)…\(try store.lastIndex), applied \(try store.appliedIndex())")
        }
    }

    struct Backup: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Copies the log consistently, even while the server runs")
        @OptionGroup var options: DataDirOption
        @Option(name: .customLong("out", withSingleDash: true), help: "The new data directory to create") var out: String

        func run() throws {
            let store = try options.openStore()
            defer { try? store.close() }
            let target = DataDirectory.logStore(out)
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            try store.backup(to: target)
            print("backed up the identity log to \(target)")
        }
    }
}
