import ArgumentParser
import CLISupport
import Config

/// `lineage-server validate -config FILE`: checks a configuration file without starting.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Validates a server configuration file")

    @Option(name: .customLong("config", withSingleDash: true), help: "Path to a server config file")
    var config = "conf/server/server.conf"

    @Flag(name: .customLong("expandEnv", withSingleDash: true), help: "Expand environment variables in the config file")
    var expandEnv = false

    func run() throws {
        do {
            let text = try ConfigFile.read(config)
            let parsed = try ServerConfig.parse(text, file: config, environment: ConfigFile.environment(expand: expandEnv))
            ConfigFile.printWarnings(parsed.warnings)
            print("Lineage server configuration file is valid.")
        } catch {
            printError("Lineage server configuration file is invalid: \(error)")
            throw ExitCode(1)
        }
    }
}
