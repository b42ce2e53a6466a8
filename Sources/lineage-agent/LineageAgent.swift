import ArgumentParser

@main
struct LineageAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage-agent",
        abstract: "The Lineage agent: serves the SPIFFE Workload API and Envoy SDS.",
        subcommands: [ValidateCommand.self]
    )
}
