import ArgumentParser
import ServerCLI

@main
struct LineageServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage-server",
        abstract: "The Lineage server: an event-sourced SPIFFE control plane.",
        subcommands: [RunCommand.self, ValidateCommand.self, LogCommand.self] + AdminCommands.all
    )
}
