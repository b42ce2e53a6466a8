import ArgumentParser
import Config
import Crypto
import Foundation
import SPIFFE
import SwiftASN1
import Wire
import X509

/// `lineage-server x509 mint`.
public struct X509Command: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "x509", abstract: "Mints X509-SVIDs", subcommands: [X509Mint.self])

    public init() {}
}

/// `lineage-server jwt mint`.
public struct JWTCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "jwt", abstract: "Mints JWT-SVIDs", subcommands: [JWTMint.self])

    public init() {}
}

enum MintTTL {
    /// `-ttl` is a Go duration (`1h30m`); the API takes whole seconds, rounded up as SPIRE does.
    static func seconds(_ text: String) throws(CLIFailure) -> Int32 {
        guard !text.isEmpty else { return 0 }
        let duration: Duration
        do { duration = try GoDuration.parse(text) } catch {
            throw CLIFailure("invalid value \(GoFormat.quoted(text)) for flag -ttl: \(error.message)")
        }
        let (seconds, attoseconds) = duration.components
        let rounded = seconds + (attoseconds > 0 ? 1 : 0)
        guard let narrow = Int32(exactly: rounded) else {
            throw CLIFailure("invalid value for TTL: value \(rounded) out of range for int32")
        }
        return narrow
    }

    /// SPIRE warns when the server capped the lifetime below what was asked for.
    static func cappedWarning(_ kind: String, expiresAt: Int64, requested: Int32, now: Date) -> String? {
        let remaining = Double(expiresAt) - now.timeIntervalSince1970
        guard requested > 0, remaining < Double(requested) else { return nil }
        return "\(kind) lifetime was capped shorter than specified ttl; expires \(GoFormat.quoted(GoFormat.rfc3339(expiresAt)))\n"
    }
}

/// `x509 mint -spiffeID ID [-ttl D] [-dns NAME]… [-write DIR]`: a P-256 key and CSR made here,
/// MintX509SVID signs it, GetBundle supplies the root CAs.
struct X509Mint: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "mint", abstract: "Mints an X509-SVID")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("spiffeID"), parsing: .unconditional, help: "SPIFFE ID of the X509-SVID")
    var spiffeID = ""
    @Option(name: .go("ttl"), parsing: .unconditional, help: "TTL of the X509-SVID")
    var ttl = ""
    @Option(name: .go("dns"), parsing: .unconditionalSingleValue,
            help: "DNS name that will be included in SVID. Can be used more than once.")
    var dns: [String] = []
    @Option(name: .go("write"), parsing: .unconditional, help: "Directory to write output to instead of stdout")
    var write = ""
    @OptionGroup var output: OutputOption

    /// The CSR SPIRE's CLI sends: empty subject, the SPIFFE ID as URI SAN, the DNS names.
    static func csr(for id: SPIFFEID, dnsNames: [String], key: P256.Signing.PrivateKey) throws -> [UInt8] {
        var names: [GeneralName] = [.uniformResourceIdentifier(id.string)]
        names += dnsNames.map { .dnsName($0) }
        let extensions = try Certificate.Extensions { SubjectAlternativeNames(names) }
        let request = try CertificateSigningRequest(
            version: .v1, subject: DistinguishedName(), privateKey: .init(key),
            attributes: CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: .ecdsaWithSHA256)
        var serializer = DER.Serializer()
        try serializer.serialize(request)
        return serializer.serializedBytes
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        if spiffeID.isEmpty { throw CLIFailure("spiffeID must be specified") }
        let id: SPIFFEID
        do { id = try SPIFFEID(parsing: spiffeID) } catch { throw CLIFailure(error.description) }
        let ttlSeconds = try MintTTL.seconds(ttl)
        let key = P256.Signing.PrivateKey()
        var request = Spire_Api_Server_Svid_V1_MintX509SVIDRequest()
        do { request.csr = Data(try Self.csr(for: id, dnsNames: dns, key: key)) } catch {
            throw CLIFailure("unable to generate CSR", wrapping: error)
        }
        request.ttl = ttlSeconds
        let svidClient = try api.svid()
        let response = try await wrappingErrors("unable to mint SVID") {
            try await svidClient.mintX509SVID(request, options: api.callOptions)
        }
        if response.svid.certChain.isEmpty { throw CLIFailure("server response missing SVID chain") }
        let bundleClient = try api.bundle()
        let bundle = try await wrappingErrors("unable to get bundle") {
            try await bundleClient.getBundle(Spire_Api_Server_Bundle_V1_GetBundleRequest(), options: api.callOptions)
        }
        if bundle.x509Authorities.isEmpty { throw CLIFailure("server response missing X509 Authorities") }
        if let warning = MintTTL.cappedWarning("X509-SVID", expiresAt: response.svid.expiresAt, requested: ttlSeconds, now: Date()) {
            console.writeError(warning)
        }
        let minted = MintedX509SVID(
            chain: response.svid.certChain.map { Array($0) }, privateKey: Array(key.derRepresentation),
            rootCAs: bundle.x509Authorities.map { Array($0.asn1) })
        if write.isEmpty {
            switch output.output {
            case .json: console.line(minted.json)
            case .pretty: console.write(minted.prettyText)
            }
            return
        }
        try minted.write(to: write, console: console)
    }
}

/// What `x509 mint` prints or writes (SPIRE's `mintResult`).
struct MintedX509SVID {
    let chain: [[UInt8]]
    let privateKey: [UInt8]
    let rootCAs: [[UInt8]]

    var svidPEM: String { chain.map { GoFormat.pem("CERTIFICATE", $0) }.joined() }
    var keyPEM: String { GoFormat.pem("PRIVATE KEY", privateKey) }
    var bundlePEM: String { rootCAs.map { GoFormat.pem("CERTIFICATE", $0) }.joined() }

    var prettyText: String { "X509-SVID:\n\(svidPEM)\nPrivate key:\n\(keyPEM)\nRoot CAs:\n\(bundlePEM)\n" }

    /// Go's `json.Marshal` of the struct: fields in declaration order, bytes as base64.
    var json: String {
        let base64 = { (bytes: [UInt8]) in JSONValue.string(Data(bytes).base64EncodedString()) }
        let value = JSONValue.object([
            "x509_svid": .array(chain.map(base64)), "private_key": base64(privateKey),
            "root_cas": .array(rootCAs.map(base64)),
        ])
        return GoJSON.ordered(value, order: ["x509_svid", "private_key", "root_cas"])
    }

    func write(to directory: String, console: Console) throws {
        let svidPath = (directory as NSString).appendingPathComponent("svid.pem")
        let keyPath = (directory as NSString).appendingPathComponent("key.pem")
        let bundlePath = (directory as NSString).appendingPathComponent("bundle.pem")
        try OutputFile.write(svidPEM, to: svidPath, mode: 0o644, what: "SVID")
        console.write("X509-SVID written to \(svidPath)\n")
        try OutputFile.write(keyPEM, to: keyPath, mode: 0o600, what: "key")
        console.write("Private key written to \(keyPath)\n")
        try OutputFile.write(bundlePEM, to: bundlePath, mode: 0o644, what: "bundle")
        console.write("Root CAs written to \(bundlePath)\n")
    }
}

enum OutputFile {
    /// Writes through a temporary file and a rename, with `mode` from the start, so a private key
    /// is never readable by others even for a moment.
    static func write(_ text: String, to path: String, mode: mode_t, what: String) throws(CLIFailure) {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, mode)
        guard descriptor >= 0 else {
            throw CLIFailure("unable to write \(what): open \(temporary): \(String(cString: strerror(errno)).lowercased())")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        // The umask may have narrowed `mode` at creation; public files must end up world-readable.
        guard written == bytes.count, synced, chmod(temporary, mode) == 0, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIFailure("unable to write \(what): \(path): \(String(cString: strerror(errno)).lowercased())")
        }
    }}

/// `jwt mint -spiffeID ID -audience AUD… [-ttl D] [-write FILE]`: MintJWTSVID.
struct JWTMint: ServerCommand {
    static let configuration = CommandConfiguration(commandName: "mint", abstract: "Mints a JWT-SVID")

    @OptionGroup var socket: SocketOption
    @Option(name: .go("spiffeID"), parsing: .unconditional, help: "SPIFFE ID of the JWT-SVID")
    var spiffeID = ""
    @Option(name: .go("ttl"), parsing: .unconditional, help: "TTL of the JWT-SVID")
    var ttl = ""
    @Option(name: .go("audience"), parsing: .unconditionalSingleValue,
            help: "Audience claim that will be included in the SVID. Can be used more than once.")
    var audience: [String] = []
    @Option(name: .go("write"), parsing: .unconditional, help: "File to write token to instead of stdout")
    var write = ""
    @OptionGroup var output: OutputOption

    func request() throws(CLIFailure) -> Spire_Api_Server_Svid_V1_MintJWTSVIDRequest {
        if spiffeID.isEmpty { throw CLIFailure("spiffeID must be specified") }
        if audience.isEmpty { throw CLIFailure("at least one audience must be specified") }
        var request = Spire_Api_Server_Svid_V1_MintJWTSVIDRequest()
        request.id = try FlagValues.spiffeID(spiffeID)
        request.ttl = try MintTTL.seconds(ttl)
        request.audience = audience
        return request
    }

    /// The `exp` claim, read without verification (only to warn about a capped lifetime).
    static func expiry(ofToken token: String) -> Int64? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[1].utf8.count <= SPIFFE.Limits.jwtBytesMax else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let payload = Data(base64Encoded: base64),
            let claims = try? JSONValue(parsing: Array(payload), errorCode: .malformedJWT).objectValue
        else { return nil }
        return claims["exp"]?.numberValue?.int64Value
    }

    func execute(_ api: ServerAPI, _ console: Console) async throws {
        let request = try request()
        let client = try api.svid()
        let response = try await wrappingErrors("unable to mint SVID") {
            try await client.mintJWTSVID(request, options: api.callOptions)
        }
        let token = response.svid.token
        if token.isEmpty { throw CLIFailure("server response missing token") }
        if let expiry = Self.expiry(ofToken: token) {
            if let warning = MintTTL.cappedWarning("JWT-SVID", expiresAt: expiry, requested: request.ttl, now: Date()) {
                console.writeError(warning)
            }
        } else {
            console.writeError("Unable to determine JWT-SVID lifetime: token has no readable expiry claim\n")
        }
        guard write.isEmpty else {
            try OutputFile.write(token, to: write, mode: 0o600, what: "token")
            console.write("JWT-SVID written to \(write)\n")
            return
        }
        try output.print(response, to: console) { response, console in console.line(response.svid.token) }
    }
}
