/// Bounds on everything the CLI reads from files, stdin or the server.
enum Limits {
    /// `entry create|update -data FILE`: SPIRE's entries JSON document.
    static let entryDataFileBytesMax = 16 << 20
    /// `entry delete -file FILE`: a `{"ids": [...]}` document.
    static let entryDeleteFileBytesMax = 4 << 20
    /// `bundle set -path FILE` in PEM form (the SPIFFE form is bounded by the SPIFFE module).
    static let bundleFileBytesMax = 4 << 20
    /// Entries in one `-data` document, so a huge file cannot become a huge request.
    static let entriesPerRequestMax = 10_000
    /// SPIRE's page sizes for `entry show` and `agent list`.
    static let entryPageSize: Int32 = 500
    static let agentPageSize: Int32 = 1000
    /// Pages followed before giving up on a server whose page token never runs out.
    static let pagesMax = 10_000
    /// Every RPC has a deadline, so a wedged server cannot hang the CLI forever.
    static let callTimeout: Duration = .seconds(60)
}
