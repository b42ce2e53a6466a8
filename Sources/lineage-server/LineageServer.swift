import ArgumentParser

@main
struct LineageServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage-server",
        abstract: "The Lineage server: an event-sourced SPIFFE control plane.",
        subcommands: [ValidateCommand.self, LogCommand.self]
    )
}
