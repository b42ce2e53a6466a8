import Agent
import Config
import Foundation
import NIOHTTP1
import SPIFFE
import Synchronization
import Testing
import Wire

/// `trust_bundle_url`: the bounded HTTPS GET against a loopback server, what counts as a bundle,
/// and an agent that bootstraps from the URL and attests.
@Suite("trust_bundle_url download", .serialized, .timeLimit(.minutes(2)))
struct TrustBundleURLTests {
    static let bundleBytesMax = Limits.bootstrapBundleBytesMax

    static func answers(_ authority: TestAuthority) throws -> [String: BundleHTTPSServer.Answer] {
        [
            "/bundle.pem": .init(body: Array(try authority.x509Bundle.pemEncoded().utf8)),
            "/bundle.json": .init(body: try authority.spiffeBundle.jsonEncoded()),
            "/garbage": .init(body: Array("<html>not a bundle</html>".utf8)),
            "/empty": .init(body: []),
            "/moved": .init(status: .found, headers: [("Location", "https://elsewhere.example/bundle.pem")]),
            "/declared-huge": .init(body: [UInt8](repeating: 0x41, count: bundleBytesMax + 1)),
            "/streamed-huge": .init(body: [UInt8](repeating: 0x41, count: bundleBytesMax + 100_000), chunked: true),
            "/broken": .init(status: .internalServerError),
            "/silent": .init(hang: true),
        ]
    }

    static func download(_ port: Int, _ path: String, server: BundleHTTPSServer, timeout: Duration = .seconds(10)) throws -> TrustBundleDownload {
        try TrustBundleDownload(url: "https://127.0.0.1:\(port)\(path)", trustRoots: [server.rootCertificate], timeout: timeout)
    }

    /// The failure of a download that must fail.
    static func failure(_ download: TrustBundleDownload) async throws -> TrustBundleDownload.Failure {
        do {
            _ = try await download.fetch()
        } catch {
            return error
        }
        throw ExternalProcess.Failure(description: "\(download.url) was downloaded, but must fail")
    }

    @Test("200 with a PEM or SPIFFE bundle is parsed; a garbage, empty or other-trust-domain bundle is refused by name")
    func bundles() async throws {
        let authority = try TestAuthority("example.org")
        let server = try BundleHTTPSServer(answers: try Self.answers(authority))
        try await server.serve { port in
            let pem = try await Self.download(port, "/bundle.pem", server: server).fetch()
            #expect(try BootstrapBundle.parse(pem, format: .pem, trustDomain: authority.trustDomain, source: "u") == authority.x509Bundle)
            let json = try await Self.download(port, "/bundle.json", server: server).fetch()
            #expect(try BootstrapBundle.parse(json, format: .spiffe, trustDomain: authority.trustDomain, source: "u") == authority.x509Bundle)
            // The right bytes in the wrong format are refused, naming the source.
            #expect(throws: AgentRunError.self) { try BootstrapBundle.parse(json, format: .pem, trustDomain: authority.trustDomain, source: "u") }
            for path in ["/garbage", "/empty"] {
                let bytes = try await Self.download(port, path, server: server).fetch()
                for format in AgentConfig.TrustBundleFormat.allCases {
                    do {
                        _ = try BootstrapBundle.parse(bytes, format: format, trustDomain: authority.trustDomain, source: "https://b\(path)")
                        Issue.record("\(path) accepted as \(format)")
                    } catch {
                        #expect("\(error)".contains("https://b\(path)"), "\(error)")
                    }
                }
            }
            // A SPIFFE bundle served for another trust domain's server.
            let other = try TestAuthority("other.org")
            do {
                _ = try BootstrapBundle.parse(try other.spiffeBundle.jsonEncoded(), format: .spiffe, trustDomain: authority.trustDomain, source: "u")
                Issue.record("a bundle of other.org was accepted for example.org")
            } catch {
                #expect("\(error)".contains("\"other.org\", not \"example.org\""), "\(error)")
            }
        }
    }

    @Test("404, 5xx, redirects, oversized bodies and silent servers are clear errors naming the URL")
    func refusals() async throws {
        let authority = try TestAuthority("example.org")
        let server = try BundleHTTPSServer(answers: try Self.answers(authority))
        try await server.serve { port in
            let base = "https://127.0.0.1:\(port)"
            let notFound = try await Self.failure(try Self.download(port, "/nope", server: server))
            #expect(notFound.description.contains("\(base)/nope answered 404 Not Found") && !notFound.isTransient, "\(notFound)")
            let broken = try await Self.failure(try Self.download(port, "/broken", server: server))
            #expect(broken.description.contains("500") && broken.isTransient, "\(broken)")
            let moved = try await Self.failure(try Self.download(port, "/moved", server: server))
            #expect(moved.description.contains("302 Found to https://elsewhere.example/bundle.pem"), "\(moved)")
            #expect(moved.description.contains("redirects are not followed") && !moved.isTransient, "\(moved)")
            for path in ["/declared-huge", "/streamed-huge"] {
                let huge = try await Self.failure(try Self.download(port, path, server: server))
                #expect(huge.description.contains("more than \(Self.bundleBytesMax)") || huge.description.contains("larger than"), "\(huge)")
                #expect(!huge.isTransient)
            }
            let silent = try await Self.failure(try Self.download(port, "/silent", server: server, timeout: .seconds(1)))
            #expect(silent.description.contains("no complete answer within") && silent.isTransient, "\(silent)")
            // The system roots do not know the test CA: https is verified, not just encrypted.
            let untrusted = try await Self.failure(try TrustBundleDownload(url: "\(base)/bundle.pem"))
            #expect(untrusted.description.contains(base) && !untrusted.isTransient, "\(untrusted)")
        }
        #expect(throws: AgentRunError.self) { try TrustBundleDownload(url: "http://127.0.0.1/bundle.pem") }
        #expect(throws: AgentRunError.self) { try TrustBundleDownload(url: "https:///bundle.pem") }
    }

    @Test("an agent without a stored bundle downloads it, attests and serves; a wrong bundle stops it before attesting")
    func agentBootstrapsFromURL() async throws {
        let authority = try TestAuthority("example.org")
        let fake = try FakeLineageServer(authority: authority)
        fake.addJoinToken("token-url")
        let agentID = try authority.id("/spire/agent/join_token/token-url")
        fake.upsert([try fake.entry("e1", path: "/w", parent: agentID, selectors: [AgentRuntimeTests.me])])
        let bundleServer = try BundleHTTPSServer(answers: try Self.answers(authority))
        let directory = try AgentHarness.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await bundleServer.serve { bundlePort in
            try await fake.serve { port in
                var configuration = AgentHarness.configuration(authority: authority, port: port, directory: directory, token: "token-url")
                configuration.bootstrapBundle = nil
                configuration.bootstrapBundleDownload = .init(
                    download: try Self.download(bundlePort, "/garbage", server: bundleServer), format: .pem)
                let refused = await AgentHarness.runUntilItFails(configuration)
                #expect(refused.contains("trust bundle https://127.0.0.1:\(bundlePort)/garbage"), "\(refused)")
                #expect(fake.state.withLock { $0.attestCount } == 0)

                configuration.bootstrapBundleDownload = .init(
                    download: try Self.download(bundlePort, "/bundle.json", server: bundleServer), format: .spiffe)
                try await AgentHarness.with(configuration, directory: directory) { harness in
                    try await eventually("agent ready", timeout: .seconds(30)) { harness.runtime.isServingWorkloads }
                    #expect(harness.logs.all.contains { $0.contains("Bootstrap trust bundle downloaded") })
                    #expect(try await harness.fetchX509().svids.map(\.spiffeID) == ["spiffe://example.org/w"])
                }
            }
        }
    }
}
