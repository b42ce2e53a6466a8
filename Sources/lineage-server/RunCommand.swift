import ArgumentParser
import CLISupport
import Config
import Foundation
import Logging
import Server
import StructuredLogging

#if canImport(Glibc)
import Glibc
#endif

/// `lineage-server run -config FILE`: starts the server (SPIRE's flags; flags override the file).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Runs the server")

    @Option(name: .customLong("config", withSingleDash: true), help: "Path to a server config file")
    var config = "conf/server/server.conf"
    @Flag(name: .customLong("expandEnv", withSingleDash: true), help: "Expand environment variables in the config file")
    var expandEnv = false
    @Option(name: .customLong("trustDomain", withSingleDash: true), help: "The trust domain this server belongs to")
    var trustDomain: String?
    @Option(name: .customLong("dataDir", withSingleDash: true), help: "Directory to store runtime data to")
    var dataDir: String?
    @Option(name: .customLong("serverAddress", withSingleDash: true), help: "IP address or DNS name of the server")
    var serverAddress: String?
    @Option(name: .customLong("serverPort", withSingleDash: true), help: "Port number of the server")
    var serverPort: UInt16?
    @Option(name: .customLong("socketPath", withSingleDash: true), help: "Path to bind the admin API socket to")
    var socketPath: String?
    @Option(name: .customLong("logLevel", withSingleDash: true), help: "DEBUG, INFO, WARN or ERROR")
    var logLevel: String?

    func run() async throws {
        let parsed: ServerConfig
        do {
            let text = try ConfigFile.read(config)
            parsed = try ServerConfig.parse(
                text, file: config, environment: ConfigFile.environment(expand: expandEnv),
                overrides: .init(trustDomain: trustDomain, dataDir: dataDir, bindAddress: serverAddress,
                                 bindPort: serverPort, socketPath: socketPath, logLevel: logLevel))
        } catch {
            printError("Lineage server configuration file is invalid: \(error)")
            throw ExitCode(1)
        }
        ConfigFile.printWarnings(parsed.warnings)
        let logger: Logger
        do {
            let sink = try parsed.logFile.map(LineLogHandler.fileSink(path:))
            logger = .lines(label: "lineage.server", level: parsed.logLevel, format: parsed.logFormat, sink: sink)
        } catch {
            printError("cannot start the server: \(error)")
            throw ExitCode(1)
        }
        struct CannotStart: Error, CustomStringConvertible { let description: String }
        let task = Task {
            // A server in join mode first waits (admin socket only) for `cluster join`.
            if ClusterJoinWaiter.needed(parsed) {
                do {
                    try await ClusterJoinWaiter(config: parsed, logger: logger).run()
                } catch let error as MemberRegistry.RegistryError {
                    throw CannotStart(description: "cannot start the server: \(error)")
                }
            }
            let runtime: ServerRuntime
            do {
                runtime = try ServerRuntime(config: parsed, logger: logger)
            } catch {
                throw CannotStart(description: "cannot start the server: \(error)")
            }
            try await runtime.run()
        }
        // SIGTERM and SIGINT stop the server gracefully.
        let signals = [SIGTERM, SIGINT].map { signal -> any DispatchSourceSignal in
            Glibc.signal(signal, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signal)
            source.setEventHandler { task.cancel() }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        do {
            try await task.value
        } catch is CancellationError {
        } catch let error as CannotStart {
            printError(error.description)
            throw ExitCode(1)
        } catch {
            printError("server stopped: \(error)")
            throw ExitCode(1)
        }
    }
}
