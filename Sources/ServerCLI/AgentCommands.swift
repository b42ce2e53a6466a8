import ArgumentParser
import Foundation
import SwiftProtobuf
import Wire

/// `lineage-server agent …`: SPIRE's agent verbs over the Agent API.
public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "Lists, shows, counts, bans and evicts attested agents",
        subcommands: [AgentList.self, AgentShow.self, AgentCount.self, AgentBan.self, AgentEvict.self])

    public init() {}
}

/// The filters `list` and `count` share.
struct AgentFilterOptions: ParsableArguments, Sendable {
    @Option(name: .go("selector"), parsing: .unconditionalSingleValue,
            help: "A colon-delimited type:value selector. Can be used more than once")
    var selector: [String] = []
    @Option(name: .go("attestationType"), parsing: .unconditional,
            help: "Filter by attestation type, like join_token or x509pop.")
    var attestationType = ""
    @Option(name: .go("canReattest"), parsing: .unconditional,
            help: "Filter based on string received, 'true': agents that can reattest, 'false': agents that can't reattest, other value will return all.")
    var canReattest = ""
    @Option(name: .go("banned"), parsing: .unconditional,
            help: "Filter based on string received, 'true': banned agents, 'false': not banned agents, other value will return all.")
    var banned = ""
    @Option(name: .go("expiresBefore"), parsing: .unconditional,
            help: "Filter by expiration time (format: \"2006-01-02 15:04:05 -0700 -07\")")
    var expiresBefore = ""
    @Option(name: .go("matchSelectorsOn"), parsing: .unconditional,
            help: "The match mode used when filtering by selectors. Options: exact, any, superset and subset")
    var matchSelectorsOn = "superset"

    func filter() throws(CLIFailure) -> Spire_Api_Server_Agent_V1_AgentFilter {
        var filter = Spire_Api_Server_Agent_V1_AgentFilter()
        if !selector.isEmpty {
            var match = Spire_Api_Types_SelectorMatch()
            do { match.match = try FlagValues.selectorMatch(matchSelectorsOn) } catch {
                throw CLIFailure("unsupported match behavior")
            }
            for text in selector {
                do { match.selectors.append(try FlagValues.selector(text)) } catch {
                    throw CLIFailure("error parsing selector \(GoFormat.quoted(text)): \(error.message)")
                }
            }
            filter.bySelectorMatch = match
        }
        if !expiresBefore.isEmpty {
            guard Self.isGoExpiryTime(expiresBefore) else {
                throw CLIFailure("date is not valid: \(GoFormat.quoted(expiresBefore)) does not match \"2006-01-02 15:04:05 -0700 -07\"")
            }
            filter.byExpiresBefore = expiresBefore
        }
        filter.byAttestationType = attestationType
        // SPIRE's BoolFlag: only the exact words "true"/"false" filter; anything else lists all.
        if let flag = Self.goBool(canReattest) { filter.byCanReattest = Google_Protobuf_BoolValue(flag) }
        if let flag = Self.goBool(banned) { filter.byBanned = Google_Protobuf_BoolValue(flag) }
        return filter
    }

    static func goBool(_ text: String) -> Bool? {
        switch text {
        case "true": true
        case "false": false
        default: nil
        }
    }

    /// Go's layout `2006-01-02 15:04:05 -0700 -07`, e.g. `2026-11-23 10:00:00 +0000 +00`.
    static func isGoExpiryTime(_ text: String) -> Bool {
        text.wholeMatch(of: /\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} [+-]\d{2}/) != nil
    }
}

enum AgentText {
    static func block(_ agent: Spire_Api_Types_Agent) -> String {
        var text = "SPIFFE ID         : \(FlagValues.idString(agent.id))\n"
        text += "Attestation type  : \(agent.attestationType)\n"
        text += "Expiration time   : \(GoFormat.localTime(agent.x509SvidExpiresAt))\n"
        if agent.banned {
            text += "Banned            : true\n"
        } else {
            text += "Serial number     : \(agent.x509SvidSerialNumber)\n"
        }
        text += "Can re-attest     : \(agent.canReattest)\n"
        if !agent.agentVersion.isEmpty { text += "Agent version     : \(agent.agentVersion)\n" }
        return text + "\n"
    }

    static func printList(_ agents: [Spire_Api_Types_Agent], to console: Console) {
        guard !agents.isEmpty else {
            console.write("No attested agents found\n")
            return
        }
        console.write("Found \(agents.count) attested \(GoFormat.plural(agents.count, "agent", "agents")):\n\n")
        for agent in agents { console.write(block(agent)) }
    }

    static func printShow(_ agent: Spire_Api_Types_Agent, to console: Console) {
        console.write("Found an attested agent given its SPIFFE ID\n\n")
        console.write(block(agent))
        for selector in agent.selectors { console.write("Selectors         : \(selector.type):\(selector.value)\n") }
    }
}

/// `agent list`: ListAgents with the filters, every page.
struct AgentList: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Lists attested agents and their SPIFFE IDs")

    @OptionGroup var socket: SocketOption
    @OptionGroup var filters: AgentFilterOptions
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Agent_V1_ListAgentsRequest()
        request.filter = try filters.filter()
        request.pageSize = Limits.agentPageSize
        let client = try api.agent()
        var response = Spire_Api_Server_Agent_V1_ListAgentsResponse()
        for _ in 0..<Limits.pagesMax {
            let page = try await client.listAgents(request, options: api.callOptions)
            response.agents += page.agents
            request.pageToken = page.nextPageToken
            if page.nextPageToken.isEmpty { break }
        }
        if !request.pageToken.isEmpty { throw CLIFailure("more than \(Limits.pagesMax) pages of agents") }
        try output.print(response, to: console) { response, console in AgentText.printList(response.agents, to: console) }
    }
}

/// `agent count`: CountAgents with the same filters as `list`.
struct AgentCount: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "count", abstract: "Count attested agents")

    @OptionGroup var socket: SocketOption
    @OptionGroup var filters: AgentFilterOptions
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Agent_V1_CountAgentsRequest()
        request.filter = try filters.filter()
        let response = try await api.agent().countAgents(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in
            console.line("\(response.count) attested \(GoFormat.plural(Int(response.count), "agent", "agents"))")
        }
    }
}

/// `-spiffeID` of the agent `show`, `ban` and `evict` act on.
struct AgentIDOption: ParsableArguments, Sendable {
    @Option(name: .go("spiffeID"), parsing: .unconditional, help: "The SPIFFE ID of the agent (agent identity)")
    var spiffeID = ""

    func id() throws(CLIFailure) -> Spire_Api_Types_SPIFFEID {
        if spiffeID.isEmpty { throw CLIFailure("a SPIFFE ID is required") }
        return try FlagValues.spiffeID(spiffeID)
    }
}

/// `agent show -spiffeID ID`: GetAgent.
struct AgentShow: ServerCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Shows the details of an attested agent given its SPIFFE ID")

    @OptionGroup var socket: SocketOption
    @OptionGroup var agent: AgentIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Agent_V1_GetAgentRequest()
        request.id = try agent.id()
        let response = try await api.agent().getAgent(request, options: api.callOptions)
        try output.print(response, to: console) { response, console in AgentText.printShow(response, to: console) }
    }
}

/// `agent ban -spiffeID ID`: BanAgent.
struct AgentBan: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "ban", abstract: "Ban an attested agent given its SPIFFE ID")

    @OptionGroup var socket: SocketOption
    @OptionGroup var agent: AgentIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Agent_V1_BanAgentRequest()
        request.id = try agent.id()
        let response = try await api.agent().banAgent(request, options: api.callOptions)
        try output.print(response, to: console) { _, console in console.line("Agent banned successfully") }
    }
}

/// `agent evict -spiffeID ID`: DeleteAgent.
struct AgentEvict: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "evict", abstract: "Evicts an attested agent given its SPIFFE ID")

    @OptionGroup var socket: SocketOption
    @OptionGroup var agent: AgentIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        var request = Spire_Api_Server_Agent_V1_DeleteAgentRequest()
        request.id = try agent.id()
        let response = try await api.agent().deleteAgent(request, options: api.callOptions)
        try output.print(response, to: console) { _, console in console.line("Agent evicted successfully") }
    }
}
