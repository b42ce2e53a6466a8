import Agent
import Foundation
import SPIFFE
import X509
import Testing

/// The endpoint against real clients: py-spiffe and raw grpcio (Tests/AgentInterop/workload_client.py).
/// Needs `.venv` from `scripts/setup.sh --python`; without it these tests fail and say so.
@Suite("Workload API with py-spiffe and grpcio", .timeLimit(.minutes(2)))
struct PythonClientTests {
    static let otherUID: UInt32 = 4_242

    static func client(
        _ harness: EndpointHarness, _ arguments: [String], uid: UInt32? = nil, name: String
    ) async throws -> [String: Any] {
        let python = try ExternalProcess.python()
        let script = ExternalProcess.interopDirectory + "/workload_client.py"
        let output = try await ExternalProcess.run(
            python, [script] + arguments, uid: uid, directory: harness.directory, name: name, timeout: .seconds(90))
        return try decodeJSONObject(output)
    }

    @Test("py-spiffe fetches X.509 SVIDs and bundles; each chain verifies against the bundle")
    func x509() async throws {
        let authority = try TestAuthority("example.org")
        let partner = try TestAuthority("partner.test")
        let me = TestSelectors.current
        let provider = try StaticIdentityProvider.make(authority, entries: [], federated: [partner])
        provider.update { state in
            state.entries = [
                .init(entryID: "a", selectors: me, svid: try! authority.svid("/web"), federatesWith: [partner.trustDomain]),
                .init(entryID: "b", selectors: me, svid: try! authority.svid("/db"), hint: "db"),
            ]
        }
        try await EndpointHarness.with(provider: provider) { harness in
            let result = try await Self.client(harness, ["x509", harness.socketPath], name: "x509")
            let svids = try #require(result["svids"] as? [[String: Any]])
            #expect(svids.map { $0["id"] as? String } == ["spiffe://example.org/web", "spiffe://example.org/db"])
            for svid in svids {
                #expect(svid["verified"] as? Bool == true)
                #expect(svid["key_matches"] as? Bool == true)
            }
            let bundles = try #require(result["bundles"] as? [String: Int])
            #expect(bundles == ["example.org": 1, "partner.test": 1])
        }
    }

    @Test("py-spiffe fetches a JWT-SVID, validates it locally with the JWT bundle and through the agent")
    func jwt() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/api", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            let result = try await Self.client(harness, ["jwt", harness.socketPath, "spiffe://example.org/backend"], name: "jwt")
            #expect(result["id"] as? String == "spiffe://example.org/api")
            #expect(result["local_id"] as? String == "spiffe://example.org/api")
            #expect(result["remote_id"] as? String == "spiffe://example.org/api")
            #expect(result["audience"] as? [String] == ["spiffe://example.org/backend"])
            let refused = try #require(result["wrong_audience"] as? String)
            #expect(refused.contains("INVALID_ARGUMENT") || refused.contains("invalid"), "\(refused)")
        }
    }

    @Test("a raw grpcio call without the security header gets InvalidArgument")
    func missingHeader() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/api", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            for method in ["FetchX509SVID", "FetchJWTSVID"] {
                let without = try await Self.client(harness, ["status", harness.socketPath, method, "no"], name: "no-header-\(method)")
                #expect(without["code"] as? String == "INVALID_ARGUMENT")
                #expect(without["details"] as? String == "security header missing from request")
                let with = try await Self.client(harness, ["status", harness.socketPath, method, "yes"], name: "header-\(method)")
                #expect(with["code"] as? String == "OK")
            }
        }
    }

    @Test("a caller under another uid with no matching entry gets PermissionDenied; with one it is served")
    func otherUser() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/api", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            for method in ["FetchX509SVID", "FetchJWTSVID"] {
                let denied = try await Self.client(
                    harness, ["status", harness.socketPath, method, "yes"], uid: Self.otherUID, name: "denied-\(method)")
                #expect(denied["code"] as? String == "PERMISSION_DENIED")
                #expect(denied["details"] as? String == "no identity issued")
            }
            let svid = try authority.svid("/other-user")
            provider.update {
                $0.entries.append(.init(entryID: "e2", selectors: TestSelectors.uid(Self.otherUID), svid: svid))
            }
            let served = try await Self.client(
                harness, ["status", harness.socketPath, "FetchX509SVID", "yes"], uid: Self.otherUID, name: "served")
            #expect(served["code"] as? String == "OK")
        }
    }

    @Test("rotation: an open FetchX509SVID stream receives the new SVID")
    func rotation() async throws {
        let authority = try TestAuthority("example.org")
        let provider = try StaticIdentityProvider.make(authority, entries: [("e1", "/api", TestSelectors.current)])
        try await EndpointHarness.with(provider: provider) { harness in
            let python = try ExternalProcess.python()
            let ready = harness.directory + "/watch.ready"
            let watcher = try ExternalProcess.start(
                python, [ExternalProcess.interopDirectory + "/workload_client.py", "watch", harness.socketPath, ready],
                directory: harness.directory, name: "watch")
            defer { watcher.stop() }
            try await eventually("first X509SVIDResponse", timeout: .seconds(20)) {
                FileManager.default.fileExists(atPath: ready) || !watcher.isRunning
            }
            let rotated = try authority.svid("/api")
            provider.update { $0.entries[0].svid = rotated }
            let result = try decodeJSONObject(try await watcher.wait(timeout: .seconds(20)))
            let serials = try #require(result["serials"] as? [String])
            #expect(serials.count == 2)
            let expected = rotated.leaf.serialNumber.bytes.map { String(format: "%02x", $0) }.joined()
            #expect(serials.last.map { String($0) } == String(expected.drop { $0 == "0" }))
        }
    }
}
