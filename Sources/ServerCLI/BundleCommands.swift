import ArgumentParser
import SPIFFE
import Wire

/// `lineage-server bundle …`: SPIRE's bundle verbs over the Bundle API.
public struct BundleCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bundle", abstract: "Shows the server's bundle and manages federated bundles",
        subcommands: [BundleShow.self, BundleList.self, BundleSet.self, BundleDelete.self, BundleCount.self])

    public init() {}
}

struct BundleFormatOption: ParsableArguments, Sendable {
    @Option(name: .go("format"), parsing: .unconditional,
            help: "The format of the bundle (only pretty output format supports this flag). Either \"pem\" or \"spiffe\".")
    var format = BundleText.formatPEM
}

/// `bundle show`: GetBundle, the server's own trust domain bundle.
struct BundleShow: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Prints server CA bundle to stdout")

    @OptionGroup var socket: SocketOption
    @OptionGroup var format: BundleFormatOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let bundle = try await api.bundle().getBundle(Spire_Api_Server_Bundle_V1_GetBundleRequest(), options: api.callOptions)
        try output.print(bundle, to: console) { bundle, console in
            console.write(try BundleText.text(bundle, format: format.format, header: false))
        }
    }
}

/// `bundle list [-id TD]`: GetFederatedBundle for one trust domain, else ListFederatedBundles.
struct BundleList: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Lists federated bundle data")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("id"), parsing: .unconditional, help: "SPIFFE ID of the trust domain")
    var id = ""
    @OptionGroup var format: BundleFormatOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let client = try api.bundle()
        if !id.isEmpty {
            var request = Spire_Api_Server_Bundle_V1_GetFederatedBundleRequest()
            request.trustDomain = id
            let bundle = try await client.getFederatedBundle(request, options: api.callOptions)
            try output.print(bundle, to: console) { bundle, console in
                console.write(try BundleText.text(bundle, format: format.format, header: false))
            }
            return
        }
        let response = try await client.listFederatedBundles(
            Spire_Api_Server_Bundle_V1_ListFederatedBundlesRequest(), options: api.callOptions)
        try output.print(response, to: console) { response, console in
            for (index, bundle) in response.bundles.enumerated() {
                if index != 0 { console.line() }
                console.write(try BundleText.text(bundle, format: format.format, header: true))
            }
        }
    }
}

/// `bundle set -id TD [-path FILE] [-format pem|spiffe]`: BatchSetFederatedBundle (stdin without -path).
struct BundleSet: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "set", abstract: "Creates or updates federated bundle data")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("id"), parsing: .unconditional, help: "SPIFFE ID of the trust domain")
    var id = ""
    @Option(name: .go("path"), parsing: .unconditional, help: "Path to the bundle data")
    var path = ""
    @Option(name: .go("format"), parsing: .unconditional,
            help: "The format of the bundle data. Either \"pem\" or \"spiffe\".")
    var format = BundleText.formatPEM
    @OptionGroup var output: OutputOption

    func request() throws(CLIFailure) -> Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest {
        if id.isEmpty { throw CLIFailure("id flag is required") }
        let format = try BundleText.validateFormat(format)
        let limit = format == BundleText.formatPEM ? Limits.bundleFileBytesMax : SPIFFE.Limits.bundleJSONBytesMax
        let bytes: [UInt8]
        do { bytes = try InputFile.read(path.isEmpty ? "-" : path, limit: limit) } catch {
            throw CLIFailure("unable to load bundle data: \(error.message)")
        }
        var request = Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest()
        request.bundle = [try BundleText.parse(bytes, format: format, id: id)]
        return request
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try request()
        let client = try api.bundle()
        let response = try await wrappingErrors("failed to set federated bundle") {
            try await client.batchSetFederatedBundle(request, options: api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            guard let result = response.results.first else { throw CLIFailure("failed to set federated bundle: no result") }
            guard result.status.code == 0 else {
                throw CLIFailure("failed to set federated bundle: \(result.status.message)")
            }
            console.line("bundle set.")
        }
    }
}

/// `bundle delete -id TD [-mode restrict|delete|dissociate]`: BatchDeleteFederatedBundle.
struct BundleDelete: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "delete", abstract: "Deletes federated bundle data")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("id"), parsing: .unconditional, help: "SPIFFE ID of the trust domain")
    var id = ""
    @Option(name: .go("mode"), parsing: .unconditional, help: "Deletion mode: one of restrict, delete, or dissociate")
    var mode = "restrict"
    @OptionGroup var output: OutputOption

    func request() throws(CLIFailure) -> Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleRequest {
        if id.isEmpty { throw CLIFailure("id is required") }
        var request = Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleRequest()
        request.trustDomains = [id]
        switch mode {
        case "", "restrict": request.mode = .restrict
        case "dissociate": request.mode = .dissociate
        case "delete": request.mode = .delete
        default: throw CLIFailure("unsupported mode \(GoFormat.quoted(mode))")
        }
        return request
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try request()
        let client = try api.bundle()
        let response = try await wrappingErrors("failed to delete federated bundle") {
            try await client.batchDeleteFederatedBundle(request, options: api.callOptions)
        }
        try output.print(response, to: console) { response, console in
            guard let result = response.results.first else { throw CLIFailure("failed to delete federated bundle: no result") }
            guard result.status.code == 0 else {
                throw CLIFailure(
                    "failed to delete federated bundle \(GoFormat.quoted(result.trustDomain)): \(result.status.message)")
            }
            console.line("bundle deleted.")
        }
    }
}

/// `bundle count`: CountBundles.
struct BundleCount: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "count", abstract: "Count bundles")

    @OptionGroup var socket: SocketOption
    @OptionGroup var output: OutputOption

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let response = try await api.bundle().countBundles(Spire_Api_Server_Bundle_V1_CountBundlesRequest(), options: api.callOptions)
        try output.print(response, to: console) { response, console in
            console.line("\(response.count) \(GoFormat.plural(Int(response.count), "bundle", "bundles"))")
        }
    }
}
