import ArgumentParser

@main
struct LineageAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage-agent",
        abstract: "The Lineage agent: serves the SPIFFE Workload API and Envoy SDS.",
        subcommands: [RunCommand.self, APICommand.self, HealthcheckCommand.self, ValidateCommand.self]
    )
}
