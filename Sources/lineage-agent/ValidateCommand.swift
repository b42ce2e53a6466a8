import ArgumentParser
import CLISupport
import Config

/// `lineage-agent validate -config FILE`: checks an agent configuration file without starting.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate", abstract: "Validates an agent configuration file")

    @Option(name: .customLong("config", withSingleDash: true), help: "Path to an agent config file")
    var config = "conf/agent/agent.conf"

    @Flag(name: .customLong("expandEnv", withSingleDash: true), help: "Expand environment variables in the config file")
    var expandEnv = false

    func run() throws {
        do {
            let text = try ConfigFile.read(config)
            let parsed = try AgentConfig.parse(text, file: config, environment: ConfigFile.environment(expand: expandEnv))
            ConfigFile.printWarnings(parsed.warnings)
            print("Lineage agent configuration file is valid.")
        } catch {
            printError("Lineage agent configuration file is invalid: \(error)")
            throw ExitCode(1)
        }
    }
}
