import ArgumentParser
import GRPCCore
import Wire

/// `lineage-server localauthority x509|jwt …`: SPIRE's manual CA rotation verbs.
public struct LocalAuthorityCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "localauthority", abstract: "Manages the server's local X.509 and JWT authorities",
        subcommands: [X509.self, JWT.self])

    public init() {}

    struct X509: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "x509", abstract: "Manages the local X.509 authorities",
            subcommands: [
                LocalAuthorityShow<X509Kind>.self, LocalAuthorityPrepare<X509Kind>.self,
                LocalAuthorityActivate<X509Kind>.self, LocalAuthorityTaint<X509Kind>.self,
                LocalAuthorityRevoke<X509Kind>.self,
            ])
    }

    struct JWT: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "jwt", abstract: "Manages the local JWT authorities",
            subcommands: [
                LocalAuthorityShow<JWTKind>.self, LocalAuthorityPrepare<JWTKind>.self,
                LocalAuthorityActivate<JWTKind>.self, LocalAuthorityTaint<JWTKind>.self,
                LocalAuthorityRevoke<JWTKind>.self,
            ])
    }
}

typealias LocalAuthorityClient = Spire_Api_Server_Localauthority_V1_LocalAuthority.Client<ServerAPI.Transport>
typealias AuthorityState = Spire_Api_Server_Localauthority_V1_AuthorityState

/// What differs between the X.509 and the JWT verbs: the noun in the text and the RPCs.
protocol AuthorityKind: Sendable {
    /// `X.509` or `JWT`.
    static var noun: String { get }
    /// X.509 authorities print their upstream authority line.
    static var showsUpstream: Bool { get }
    /// SPIRE wraps `x509 show` errors but not `jwt show` errors.
    static var wrapsShowErrors: Bool { get }
    static func state(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse
    static func prepare(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    static func activate(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    static func taint(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    static func revoke(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
}

enum LocalAuthorityText {
    /// SPIRE's `authoritycommon.prettyPrintAuthorityState`.
    static func state(_ state: AuthorityState, showsUpstream: Bool) -> String {
        var text = "  Authority ID: \(state.authorityID)\n"
        text += "  Expires at: \(GoFormat.utcTime(state.expiresAt))\n"
        guard showsUpstream else { return text }
        if !state.upstreamAuthoritySubjectKeyID.isEmpty {
            return text + "  Upstream authority Subject Key ID: \(state.upstreamAuthoritySubjectKeyID)\n"
        }
        return text + "  Upstream authority ID: No upstream authority\n"
    }

    static func show(_ response: Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse, noun: String, showsUpstream: Bool) -> String {
        let slots: [(String, String, AuthorityState?)] = [
            ("Active", "active", response.hasActive ? response.active : nil),
            ("Prepared", "prepared", response.hasPrepared ? response.prepared : nil),
            ("Old", "old", response.hasOld ? response.old : nil),
        ]
        return slots.map { title, lower, state in
            "\(title) \(noun) authority:\n"
                + (state.map { self.state($0, showsUpstream: showsUpstream) } ?? "  No \(lower) \(noun) authority found\n")
        }.joined(separator: "\n")
    }

    /// `Prepared X.509 authority:` and the state, or SPIRE's internal error when the server sent none.
    static func changed(_ state: AuthorityState?, title: String, lower: String, noun: String, showsUpstream: Bool, to console: Console) throws {
        console.line("\(title) \(noun) authority:")
        guard let state else {
            throw CLIFailure("internal error: expected to have \(lower) \(noun) authority information")
        }
        console.write(self.state(state, showsUpstream: showsUpstream))
    }
}

struct LocalAuthorityShow<Kind: AuthorityKind>: ServerCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "show", abstract: "Shows the local \(Kind.noun) authorities")
    }

    @OptionGroup var socket: SocketOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let client = try api.localAuthority()
        let response: Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse
        if Kind.wrapsShowErrors {
            response = try await wrappingErrors("could not get \(Kind.noun) authorities") {
                try await Kind.state(client, api.callOptions)
            }
        } else {
            response = try await Kind.state(client, api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            console.write(LocalAuthorityText.show(response, noun: Kind.noun, showsUpstream: Kind.showsUpstream))
        }
    }
}

struct LocalAuthorityPrepare<Kind: AuthorityKind>: ServerCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "prepare",
            abstract: "Prepares a new \(Kind.noun) authority for use by generating a new key and injecting it into the bundle")
    }

    @OptionGroup var socket: SocketOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let client = try api.localAuthority()
        let response = try await wrappingErrors("could not prepare \(Kind.noun) authority") {
            try await Kind.prepare(client, api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            try LocalAuthorityText.changed(
                response.hasPreparedAuthority ? response.preparedAuthority : nil, title: "Prepared", lower: "prepared",
                noun: Kind.noun, showsUpstream: Kind.showsUpstream, to: console)
        }
    }
}

/// `-authorityID` of the authority to activate, taint or revoke.
struct AuthorityIDOption: ParsableArguments, Sendable {
    @Option(name: .go("authorityID"), parsing: .unconditional, help: "The authority ID of the authority")
    var authorityID = ""

    func request() throws(CLIFailure) -> Spire_Api_Server_Localauthority_V1_AuthorityIDRequest {
        if authorityID.isEmpty { throw CLIFailure("an authority ID is required") }
        var request = Spire_Api_Server_Localauthority_V1_AuthorityIDRequest()
        request.authorityID = authorityID
        return request
    }
}

struct LocalAuthorityActivate<Kind: AuthorityKind>: ServerCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "activate",
            abstract: "Activates a prepared \(Kind.noun) authority for use by every signing operation of this server")
    }

    @OptionGroup var socket: SocketOption
    @OptionGroup var authority: AuthorityIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try authority.request()
        let client = try api.localAuthority()
        let response = try await wrappingErrors("could not activate \(Kind.noun) authority") {
            try await Kind.activate(client, request, api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            try LocalAuthorityText.changed(
                response.hasActivatedAuthority ? response.activatedAuthority : nil, title: "Activated", lower: "activated",
                noun: Kind.noun, showsUpstream: Kind.showsUpstream, to: console)
        }
    }
}

struct LocalAuthorityTaint<Kind: AuthorityKind>: ServerCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "taint", abstract: "Marks the previously active \(Kind.noun) authority as being tainted")
    }

    @OptionGroup var socket: SocketOption
    @OptionGroup var authority: AuthorityIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try authority.request()
        let client = try api.localAuthority()
        let response = try await wrappingErrors("could not taint \(Kind.noun) authority") {
            try await Kind.taint(client, request, api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            try LocalAuthorityText.changed(
                response.hasTaintedAuthority ? response.taintedAuthority : nil, title: "Tainted", lower: "tainted",
                noun: Kind.noun, showsUpstream: Kind.showsUpstream, to: console)
        }
    }
}

struct LocalAuthorityRevoke<Kind: AuthorityKind>: ServerCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "revoke",
            abstract: "Revokes the previously active \(Kind.noun) authority by removing it from the bundle")
    }

    @OptionGroup var socket: SocketOption
    @OptionGroup var authority: AuthorityIDOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try authority.request()
        let client = try api.localAuthority()
        let response = try await wrappingErrors("could not revoke \(Kind.noun) authority") {
            try await Kind.revoke(client, request, api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            try LocalAuthorityText.changed(
                response.hasRevokedAuthority ? response.revokedAuthority : nil, title: "Revoked", lower: "revoked",
                noun: Kind.noun, showsUpstream: Kind.showsUpstream, to: console)
        }
    }
}

enum X509Kind: AuthorityKind {
    static let noun = "X.509"
    static let showsUpstream = true
    static let wrapsShowErrors = true

    static func state(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse
    { try await client.getX509AuthorityState(.init(), options: options) }
    static func prepare(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    { try await client.prepareX509Authority(.init(), options: options) }
    static func activate(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    { try await client.activateX509Authority(request, options: options) }
    static func taint(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    { try await client.taintX509Authority(request, options: options) }
    static func revoke(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    { try await client.revokeX509Authority(request, options: options) }
}

enum JWTKind: AuthorityKind {
    static let noun = "JWT"
    static let showsUpstream = false
    static let wrapsShowErrors = false

    static func state(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_GetAuthorityStateResponse
    { try await client.getJWTAuthorityState(.init(), options: options) }
    static func prepare(_ client: LocalAuthorityClient, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_PrepareAuthorityResponse
    { try await client.prepareJWTAuthority(.init(), options: options) }
    static func activate(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_ActivateAuthorityResponse
    { try await client.activateJWTAuthority(request, options: options) }
    static func taint(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_TaintAuthorityResponse
    { try await client.taintJWTAuthority(request, options: options) }
    static func revoke(_ client: LocalAuthorityClient, _ request: Spire_Api_Server_Localauthority_V1_AuthorityIDRequest, _ options: GRPCCallOptions) async throws
        -> Spire_Api_Server_Localauthority_V1_RevokeAuthorityResponse
    { try await client.revokeJWTAuthority(request, options: options) }
}

typealias GRPCCallOptions = GRPCCore.CallOptions
