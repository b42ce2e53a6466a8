import Foundation
import GRPCCore
import GRPCHealth
import GRPCNIOTransportHTTP2
import SPIFFE
import SwiftProtobuf
import Wire
import X509

/// What `lineage-agent api …` and `healthcheck` do against the agent's socket, kept out of the
/// executable so it is testable: calls plus SPIRE's text layout (spire-agent's `api fetch`,
/// `api watch`, `api validate`, `healthcheck`).
public struct WorkloadAPIClient: Sendable {
    public let socketPath: String
    public let timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(5)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    private var header: Metadata { ["workload.spiffe.io": "true"] }

    private var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    private func withClient<R: Sendable>(
        _ body: (WorkloadAPI_SpiffeWorkloadAPI.Client<HTTP2ClientTransport.Posix>) async throws -> R
    ) async throws -> R {
        try await withGRPCClient(
            transport: try .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { grpc in
            try await body(WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: grpc))
        }
    }

    public func fetchX509() async throws -> WorkloadAPI_X509SVIDResponse {
        try await withClient { client in
            try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: header, options: options) { response in
                for try await message in response.messages { return message }
                throw RPCError(code: .unavailable, message: "the stream ended without a response")
            }
        }
    }

    /// Follows FetchX509SVID, calling `onUpdate` for every message, until cancelled.
    public func watchX509(_ onUpdate: @escaping @Sendable (WorkloadAPI_X509SVIDResponse) throws -> Void) async throws {
        try await withClient { client in
            try await client.fetchX509SVID(WorkloadAPI_X509SVIDRequest(), metadata: header) { response in
                for try await message in response.messages { try onUpdate(message) }
            }
        }
    }

    public func fetchJWT(audience: [String], spiffeID: String?) async throws -> (svids: WorkloadAPI_JWTSVIDResponse, bundles: WorkloadAPI_JWTBundlesResponse) {
        try await withClient { client in
            var request = WorkloadAPI_JWTSVIDRequest()
            request.audience = audience
            request.spiffeID = spiffeID ?? ""
            let svids = try await client.fetchJWTSVID(request, metadata: header, options: options)
            let bundles = try await client.fetchJWTBundles(WorkloadAPI_JWTBundlesRequest(), metadata: header, options: options) { response in
                for try await message in response.messages { return message }
                throw RPCError(code: .unavailable, message: "the stream ended without a response")
            }
            return (svids, bundles)
        }
    }

    public func validateJWT(audience: String, token: String) async throws -> WorkloadAPI_ValidateJWTSVIDResponse {
        try await withClient { client in
            var request = WorkloadAPI_ValidateJWTSVIDRequest()
            request.audience = audience
            request.svid = token
            return try await client.validateJWTSVID(request, metadata: header, options: options)
        }
    }

    /// `grpc.health.v1.Health/Check` for the whole server (SPIRE's agent healthcheck).
    public func health() async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
        try await withGRPCClient(
            transport: try .http2NIOPosix(target: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext)
        ) { grpc in
            try await Grpc_Health_V1_Health.Client(wrapping: grpc).check(Grpc_Health_V1_HealthCheckRequest(), options: options).status
        }
    }
}

/// SPIRE's text output for the agent's `api` commands.
public enum WorkloadAPIText {
    /// Go's `time.Time` default layout, as SPIRE prints validity dates.
    static func goTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss '+0000 UTC'"
        return formatter.string(from: date)
    }

    /// Go's `time.Duration` layout for sub-minute values ("8.723ms", "1.2s").
    public static func goDuration(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if seconds >= 1 { return Self.trim(String(format: "%.3f", seconds)) + "s" }
        if seconds >= 0.001 { return Self.trim(String(format: "%.3f", seconds * 1_000)) + "ms" }
        return Self.trim(String(format: "%.3f", seconds * 1_000_000)) + "µs"
    }

    private static func trim(_ text: String) -> String {
        var text = text
        while text.contains(".") && (text.hasSuffix("0") || text.hasSuffix(".")) { text.removeLast() }
        return text
    }

    /// `api fetch x509` / `api watch`: "Received N svid(s) after T", then per SVID its ID, the
    /// validity of the leaf, intermediates and bundle CAs, and federated bundle CAs.
    public static func x509(_ response: WorkloadAPI_X509SVIDResponse, after elapsed: Duration) throws -> String {
        var out = "Received \(response.svids.count) svid\(response.svids.count == 1 ? "" : "s") after \(goDuration(elapsed))\n"
        let federated = try response.federatedBundles.sorted { $0.key < $1.key }.map {
            ($0.key, try CertificateCoding.certificates(der: Array($0.value)))
        }
        for svid in response.svids {
            out += "\n"
            out += "SPIFFE ID:\t\t\(svid.spiffeID)\n"
            if !svid.hint.isEmpty { out += "Hint:\t\t\t\(svid.hint)\n" }
            let chain = try CertificateCoding.certificates(der: Array(svid.x509Svid))
            if let leaf = chain.first {
                out += "SVID Valid After:\t\(goTime(leaf.notValidBefore))\n"
                out += "SVID Valid Until:\t\(goTime(leaf.notValidAfter))\n"
            }
            for (index, intermediate) in chain.dropFirst().enumerated() {
                out += "Intermediate #\(index + 1) Valid After:\t\(goTime(intermediate.notValidBefore))\n"
                out += "Intermediate #\(index + 1) Valid Until:\t\(goTime(intermediate.notValidAfter))\n"
            }
            for (index, ca) in try CertificateCoding.certificates(der: Array(svid.bundle)).enumerated() {
                out += "CA #\(index + 1) Valid After:\t\(goTime(ca.notValidBefore))\n"
                out += "CA #\(index + 1) Valid Until:\t\(goTime(ca.notValidAfter))\n"
            }
            for (trustDomain, cas) in federated {
                let name = trustDomain.hasPrefix(SPIFFEID.schemePrefix) ? String(trustDomain.dropFirst(SPIFFEID.schemePrefix.count)) : trustDomain
                for (index, ca) in cas.enumerated() {
                    out += "[\(name)] CA #\(index + 1) Valid After:\t\(goTime(ca.notValidBefore))\n"
                    out += "[\(name)] CA #\(index + 1) Valid Until:\t\(goTime(ca.notValidAfter))\n"
                }
            }
        }
        return out + "\n"
    }

    /// SPIRE's `api fetch x509` checks before printing: every SVID parses (key matches leaf) and
    /// verifies against the bundle it came with.
    public static func verify(_ response: WorkloadAPI_X509SVIDResponse, at time: Date = Date()) async throws {
        guard !response.svids.isEmpty else { throw WorkloadAPIClientError("workload response contains no svids") }
        for svid in response.svids {
            do {
                let parsed = try X509SVID(derEncoded: Array(svid.x509Svid), privateKey: Array(svid.x509SvidKey))
                let bundle = try X509Bundle(trustDomain: parsed.id.trustDomain, derEncoded: Array(svid.bundle))
                _ = try await parsed.verify(bundles: bundle, at: time)
            } catch {
                throw WorkloadAPIClientError("\"\(svid.spiffeID)\" SVID failed verification against bundle: \(error)")
            }
        }
    }

    /// `api fetch x509 -write DIR`: svid.N.pem (chain), svid.N.key (PKCS#8, 0600), bundle.N.pem,
    /// federated_bundle.N.M.pem; returns SPIRE's progress lines.
    public static func write(_ response: WorkloadAPI_X509SVIDResponse, to directory: String) throws -> String {
        var out = ""
        let federated = response.federatedBundles.sorted { $0.key < $1.key }
        for (index, svid) in response.svids.enumerated() {
            let parsed = try X509SVID(derEncoded: Array(svid.x509Svid), privateKey: Array(svid.x509SvidKey))
            let pem = try parsed.pemEncoded()
            let svidPath = directory + "/svid.\(index).pem"
            let keyPath = directory + "/svid.\(index).key"
            let bundlePath = directory + "/bundle.\(index).pem"
            out += "Writing SVID #\(index) to file \(svidPath).\n"
            try writeFile(Array(pem.certificates.utf8), to: svidPath, mode: 0o644)
            out += "Writing key #\(index) to file \(keyPath).\n"
            try writeFile(Array(pem.privateKey.utf8), to: keyPath, mode: 0o600)
            out += "Writing bundle #\(index) to file \(bundlePath).\n"
            let bundle = try CertificateCoding.pem(try CertificateCoding.certificates(der: Array(svid.bundle)))
            try writeFile(Array(bundle.utf8), to: bundlePath, mode: 0o644)
            for (federatedIndex, entry) in federated.enumerated() {
                let path = directory + "/federated_bundle.\(index).\(federatedIndex).pem"
                out += "Writing federated bundle #\(federatedIndex) for trust domain \(entry.key) to file \(path).\n"
                let text = try CertificateCoding.pem(try CertificateCoding.certificates(der: Array(entry.value)))
                try writeFile(Array(text.utf8), to: path, mode: 0o644)
            }
        }
        return out
    }

    static func writeFile(_ bytes: [UInt8], to path: String, mode: Int) throws {
        // Created with its final mode so a key is never readable by others, even briefly.
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode]) else {
            throw WorkloadAPIClientError("cannot write \(path) (does its directory exist?)")
        }
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    /// `api fetch jwt`: each token under its SPIFFE ID, then each JWT bundle (JWKS JSON).
    public static func jwt(_ svids: WorkloadAPI_JWTSVIDResponse, bundles: WorkloadAPI_JWTBundlesResponse) -> String {
        var out = ""
        for svid in svids.svids {
            out += "token(\(svid.spiffeID)):\n\t\(svid.svid)\n"
        }
        for (trustDomain, jwks) in bundles.bundles.sorted(by: { $0.key < $1.key }) {
            let name = trustDomain.hasPrefix(SPIFFEID.schemePrefix) ? trustDomain : SPIFFEID.schemePrefix + trustDomain
            out += "bundle(\(name)):\n\t\(String(decoding: jwks, as: UTF8.self))\n"
        }
        return out
    }

    /// `api validate jwt`.
    public static func validated(_ response: WorkloadAPI_ValidateJWTSVIDResponse) throws -> String {
        let claims = try response.claims.jsonString()
        return "SVID is valid.\nSPIFFE ID : \(response.spiffeID)\nClaims    : \(claims)\n"
    }

    /// `-output json`: the response message as protobuf JSON (SPIRE prints protojson).
    public static func json(_ message: some SwiftProtobuf.Message) throws -> String {
        try message.jsonString() + "\n"
    }
}

public struct WorkloadAPIClientError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
