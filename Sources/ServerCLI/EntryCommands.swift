import ArgumentParser
import SPIFFE
import SwiftProtobuf
import Wire

/// `lineage-server entry …`: SPIRE's registration entry verbs over the Entry API.
public struct EntryCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "entry", abstract: "Creates, updates, deletes, shows and counts registration entries",
        subcommands: [EntryCreate.self, EntryUpdate.self, EntryDelete.self, EntryShow.self, EntryCount.self])

    public init() {}
}

/// The entry fields `create` and `update` share (SPIRE's flag names and help).
struct EntryFieldOptions: ParsableArguments, Sendable {
    @Option(name: .go("entryID"), parsing: .unconditional, help: "The registration entry ID")
    var entryID = ""
    @Option(name: .go("parentID"), parsing: .unconditional, help: "The SPIFFE ID of this record's parent")
    var parentID = ""
    @Option(name: .go("spiffeID"), parsing: .unconditional, help: "The SPIFFE ID that this record represents")
    var spiffeID = ""
    @Option(name: .go("x509SVIDTTL"), parsing: .unconditional,
            help: "The lifetime, in seconds, for x509-SVIDs issued based on this registration entry.")
    var x509SVIDTTL = 0
    @Option(name: .go("jwtSVIDTTL"), parsing: .unconditional,
            help: "The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry.")
    var jwtSVIDTTL = 0
    @Option(name: .go("data"), parsing: .unconditional,
            help: "Path to a file containing registration JSON (optional). If set to '-', read the JSON from stdin.")
    var data = ""
    @Option(name: .go("selector"), parsing: .unconditionalSingleValue,
            help: "A colon-delimited type:value selector. Can be used more than once")
    var selector: [String] = []
    @Option(name: .go("federatesWith"), parsing: .unconditionalSingleValue,
            help: "SPIFFE ID of a trust domain to federate with. Can be used more than once")
    var federatesWith: [String] = []
    @Flag(name: .go("admin"),
          help: "If set, the SPIFFE ID in this entry will be granted access to the server's management APIs")
    var admin = false
    @Flag(name: .go("storeSVID"),
          help: "A boolean value that, when set, indicates that the resulting issued SVID from this entry must be stored through an SVIDStore plugin")
    var storeSVID = false
    @Flag(name: .go("downstream"),
          help: "A boolean value that, when set, indicates that the entry describes a downstream server")
    var downstream = false
    @Option(name: .go("entryExpiry"), parsing: .unconditional,
            help: "An expiry, from epoch in seconds, for the resulting registration entry to be pruned")
    var entryExpiry: Int64 = 0
    @Option(name: .go("dns"), parsing: .unconditionalSingleValue,
            help: "A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once")
    var dns: [String] = []
    @Option(name: .go("hint"), parsing: .unconditional,
            help: "The entry hint, used to disambiguate entries with the same SPIFFE ID")
    var hint = ""

    /// The entry the flags describe, with `parentID` already decided by the verb.
    func entry(parentID: Spire_Api_Types_SPIFFEID, spiffeID: Spire_Api_Types_SPIFFEID) throws(CLIFailure) -> Spire_Api_Types_Entry {
        var entry = Spire_Api_Types_Entry()
        entry.id = entryID
        entry.parentID = parentID
        entry.spiffeID = spiffeID
        entry.x509SvidTtl = try FlagValues.int32(x509SVIDTTL, "X509 SVID TTL")
        entry.jwtSvidTtl = try FlagValues.int32(jwtSVIDTTL, "JWT SVID TTL")
        entry.downstream = downstream
        entry.expiresAt = entryExpiry
        entry.dnsNames = dns
        entry.storeSvid = storeSVID
        entry.hint = hint
        entry.selectors = try FlagValues.selectors(selector)
        entry.federatesWith = federatesWith
        entry.admin = admin
        return entry
    }

    func dataFileEntries() throws(CLIFailure) -> [Spire_Api_Types_Entry] {
        try EntryDataFile.entries(from: InputFile.read(data, limit: Limits.entryDataFileBytesMax))
    }
}

/// `entry create`: BatchCreateEntry with the entries from the flags or from `-data`.
struct EntryCreate: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Creates registration entries")

    @OptionGroup var socket: SocketOption
    @OptionGroup var fields: EntryFieldOptions
    @Flag(name: .go("node"), help: "If set, this entry will be applied to matching nodes rather than workloads")
    var node = false
    @OptionGroup var output: OutputOption

    /// SPIRE's `createCommand.validate` and `parseConfig`: every rule is checked before anything
    /// is sent. A `-data` file skips the flag rules (its entries are checked as they are read).
    func requestEntries() throws(CLIFailure) -> [Spire_Api_Types_Entry] {
        if !fields.data.isEmpty { return try fields.dataFileEntries() }
        if fields.selector.isEmpty { throw CLIFailure("at least one selector is required") }
        if node && !fields.federatesWith.isEmpty { throw CLIFailure("node entries can not federate") }
        if fields.parentID.isEmpty && !node { throw CLIFailure("a parent ID is required if the node flag is not set") }
        if fields.spiffeID.isEmpty { throw CLIFailure("a SPIFFE ID is required") }
        if fields.x509SVIDTTL < 0 { throw CLIFailure("a positive x509-SVID TTL is required") }
        if fields.jwtSVIDTTL < 0 { throw CLIFailure("a positive JWT-SVID TTL is required") }
        let spiffeID = try FlagValues.spiffeID(fields.spiffeID)
        // A node entry's parent is the server of the entry's own trust domain (SPIRE's rule).
        let parentID =
            if node {
                FlagValues.proto(SPIFFEID.server(in: try trustDomain(of: spiffeID)))
            } else {
                try FlagValues.spiffeID(fields.parentID)
            }
        return [try fields.entry(parentID: parentID, spiffeID: spiffeID)]
    }

    private func trustDomain(of id: Spire_Api_Types_SPIFFEID) throws(CLIFailure) -> TrustDomain {
        do { return try TrustDomain(id.trustDomain) } catch { throw CLIFailure(error.description) }
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Entry_V1_BatchCreateEntryRequest()
        request.entries = try requestEntries()
        var response = try await api.entry().batchCreateEntry(request, options: api.callOptions)
        EntryResults.showSentEntryOnFailure(&response.results, sent: request.entries)
        try output.print(response, to: console) { response, console in
            try EntryText.printResults(response.results, verb: "create", to: console)
        }
    }
}

/// `entry update`: BatchUpdateEntry, replacing every field of the entry (no input mask, as SPIRE).
struct EntryUpdate: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "update", abstract: "Updates registration entries")

    @OptionGroup var socket: SocketOption
    @OptionGroup var fields: EntryFieldOptions
    @OptionGroup var output: OutputOption

    func requestEntries() throws(CLIFailure) -> [Spire_Api_Types_Entry] {
        if !fields.data.isEmpty { return try fields.dataFileEntries() }
        if fields.entryID.isEmpty { throw CLIFailure("entry ID is required") }
        if fields.selector.isEmpty { throw CLIFailure("at least one selector is required") }
        if fields.parentID.isEmpty { throw CLIFailure("a parent ID is required") }
        if fields.spiffeID.isEmpty { throw CLIFailure("a SPIFFE ID is required") }
        if fields.x509SVIDTTL < 0 { throw CLIFailure("a positive x509-SVID TTL is required") }
        if fields.jwtSVIDTTL < 0 { throw CLIFailure("a positive JWT-SVID TTL is required") }
        let parentID = try FlagValues.spiffeID(fields.parentID)
        let spiffeID = try FlagValues.spiffeID(fields.spiffeID)
        return [try fields.entry(parentID: parentID, spiffeID: spiffeID)]
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Entry_V1_BatchUpdateEntryRequest()
        request.entries = try requestEntries()
        var response = try await api.entry().batchUpdateEntry(request, options: api.callOptions)
        EntryResults.showSentEntryOnFailure(&response.results, sent: request.entries)
        try output.print(response, to: console) { response, console in
            try EntryText.printResults(response.results, verb: "update", to: console)
        }
    }
}

enum EntryResults {
    /// SPIRE puts the entry it sent into each failed result, so the failure names what was refused.
    static func showSentEntryOnFailure(_ results: inout [Spire_Api_Server_Entry_V1_EntryResult], sent: [Spire_Api_Types_Entry]) {
        for index in results.indices where results[index].status.code != 0 && sent.indices.contains(index) {
            results[index].entry = sent[index]
        }
    }
}

/// `entry delete -entryID ID` or `-file FILE` (`{"ids": [...]}`): BatchDeleteEntry.
struct EntryDelete: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Deletes registration entries")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("entryID"), parsing: .unconditional, help: "The Registration Entry ID of the record to delete.")
    var entryID = ""
    @Option(name: .go("file"), parsing: .unconditional,
            help: "Path to a file containing a JSON structure for batch deletion (optional). If set to '-', read from stdin.")
    var file = ""
    @OptionGroup var output: OutputOption

    func requestIDs() throws(CLIFailure) -> [String] {
        guard !file.isEmpty else {
            if entryID.isEmpty { throw CLIFailure("an entry ID is required") }
            return [entryID]
        }
        let bytes = try InputFile.read(file, limit: Limits.entryDeleteFileBytesMax)
        do {
            var options = JSONDecodingOptions()
            options.ignoreUnknownFields = true
            return try Spire_Api_Server_Entry_V1_BatchDeleteEntryRequest(jsonUTF8Bytes: bytes, options: options).ids
        } catch {
            throw CLIFailure("invalid delete JSON: \(error)")
        }
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Entry_V1_BatchDeleteEntryRequest()
        request.ids = try requestIDs()
        let response = try await api.entry().batchDeleteEntry(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in
            try EntryText.printDeleteResults(response.results, to: console)
        }
    }
}

/// The filters `show` and `count` share.
struct EntryFilterOptions: ParsableArguments, Sendable {
    @Option(name: .go("parentID"), parsing: .unconditional, help: "The Parent ID of the records to show")
    var parentID = ""
    @Option(name: .go("spiffeID"), parsing: .unconditional, help: "The SPIFFE ID of the records to show")
    var spiffeID = ""
    @Flag(name: .go("downstream"),
          help: "A boolean value that, when set, indicates that the entry describes a downstream server")
    var downstream = false
    @Option(name: .go("selector"), parsing: .unconditionalSingleValue,
            help: "A colon-delimited type:value selector. Can be used more than once")
    var selector: [String] = []
    @Option(name: .go("federatesWith"), parsing: .unconditionalSingleValue,
            help: "SPIFFE ID of a trust domain an entry is federate with. Can be used more than once")
    var federatesWith: [String] = []
    @Option(name: .go("matchFederatesWithOn"), parsing: .unconditional,
            help: "The match mode used when filtering by federates with. Options: exact, any, superset and subset")
    var matchFederatesWithOn = "superset"
    @Option(name: .go("matchSelectorsOn"), parsing: .unconditional,
            help: "The match mode used when filtering by selectors. Options: exact, any, superset and subset")
    var matchSelectorsOn = "superset"
    @Option(name: .go("hint"), parsing: .unconditional, help: "The Hint of the records to show (optional)")
    var hint = ""

    /// SPIRE's filter: by_downstream is always sent (false unless `-downstream`).
    func filter() throws(CLIFailure) -> Spire_Api_Server_Entry_V1_EntryFilter {
        var filter = Spire_Api_Server_Entry_V1_EntryFilter()
        if !parentID.isEmpty {
            do { filter.byParentID = try FlagValues.spiffeID(parentID) } catch {
                throw CLIFailure("error parsing parent ID \(GoFormat.quoted(parentID)): \(error.message)")
            }
        }
        if !spiffeID.isEmpty {
            do { filter.bySpiffeID = try FlagValues.spiffeID(spiffeID) } catch {
                throw CLIFailure("error parsing SPIFFE ID \(GoFormat.quoted(spiffeID)): \(error.message)")
            }
        }
        if !selector.isEmpty {
            var match = Spire_Api_Types_SelectorMatch()
            match.match = try FlagValues.selectorMatch(matchSelectorsOn)
            do { match.selectors = try FlagValues.selectors(selector) } catch {
                throw CLIFailure("error parsing selectors: \(error.message)")
            }
            filter.bySelectors = match
        }
        if !federatesWith.isEmpty {
            var match = Spire_Api_Types_FederatesWithMatch()
            match.match = try FlagValues.federatesWithMatch(matchFederatesWithOn)
            match.trustDomains = federatesWith
            filter.byFederatesWith = match
        }
        if !hint.isEmpty { filter.byHint = Google_Protobuf_StringValue(hint) }
        filter.byDownstream = Google_Protobuf_BoolValue(downstream)
        return filter
    }
}

/// `entry show`: GetEntry for `-entryID`, else ListEntries with the filters, every page.
struct EntryShow: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Displays configured registration entries")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("entryID"), parsing: .unconditional, help: "The Entry ID of the records to show")
    var entryID = ""
    @OptionGroup var filters: EntryFilterOptions
    @OptionGroup var output: OutputOption

    /// The list request for the first page, or nil when `-entryID` asks for one entry.
    func listRequest() throws(CLIFailure) -> Spire_Api_Server_Entry_V1_ListEntriesRequest? {
        if !entryID.isEmpty {
            if !filters.parentID.isEmpty || !filters.spiffeID.isEmpty || !filters.selector.isEmpty {
                throw CLIFailure("the -entryID flag can't be combined with others")
            }
            return nil
        }
        var request = Spire_Api_Server_Entry_V1_ListEntriesRequest()
        request.filter = try filters.filter()
        request.pageSize = Limits.entryPageSize
        return request
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var response = Spire_Api_Server_Entry_V1_ListEntriesResponse()
        if var request = try listRequest() {
            let client = try api.entry()
            for _ in 0..<Limits.pagesMax {
                let page = try await wrappingErrors("error fetching entries") {
                    try await client.listEntries(request, options: api.callOptions)
                }
                response.entries += page.entries
                request.pageToken = page.nextPageToken
                if page.nextPageToken.isEmpty { break }
            }
            if !request.pageToken.isEmpty { throw CLIFailure("error fetching entries: more than \(Limits.pagesMax) pages") }
        } else {
            var request = Spire_Api_Server_Entry_V1_GetEntryRequest()
            request.id = entryID
            let client = try api.entry()
            response.entries = [
                try await wrappingErrors("error fetching entry ID \(entryID)") {
                    try await client.getEntry(request, options: api.callOptions)
                }
            ]
        }
        response.entries = EntryText.sorted(response.entries)
        try output.print(response, to: console) { response, console in
            EntryText.printList(response.entries, to: console)
        }
    }
}

/// `entry count`: CountEntries with the same filters as `show`.
struct EntryCount: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "count", abstract: "Count registration entries")

    @OptionGroup var socket: SocketOption
    @OptionGroup var filters: EntryFilterOptions
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Entry_V1_CountEntriesRequest()
        request.filter = try filters.filter()
        let response = try await api.entry().countEntries(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in
            console.line("\(response.count) registration \(GoFormat.plural(Int(response.count), "entry", "entries"))")
        }
    }
}
