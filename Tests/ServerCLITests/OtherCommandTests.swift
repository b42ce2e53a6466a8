import ArgumentParser
import Foundation
import SPIFFE
import SwiftProtobuf
import Synchronization
import Testing
import Wire

@testable import ServerCLI

@Suite("healthcheck, token, agent, bundle, mint and localauthority verbs")
struct OtherCommandTests {
    @Test("healthcheck prints SPIRE's verdicts")
    func healthcheck() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let healthy = await HealthcheckCommand.parseOrFail(socket).report()
            #expect(healthy.standardOutput == "Server is healthy.\n" && healthy.exitCode == 0)
            let verbose = await HealthcheckCommand.parseOrFail(socket + ["-verbose", "-shallow"]).report()
            #expect(verbose.standardOutput == "Checking server health...\nServer is healthy.\n")

            fake.state.withLock { $0.healthStatus = .notServing }
            let unhealthy = await HealthcheckCommand.parseOrFail(socket).report()
            #expect(unhealthy.standardErrorWithFailure == "Error: server is unhealthy: server returned status \"NOT_SERVING\"\n")
            #expect(unhealthy.exitCode == 1)
        }
        let missing = await HealthcheckCommand.parseOrFail(["-socketPath", "/nonexistent/api.sock", "-verbose"]).report()
        #expect(missing.standardOutput == "Checking server health...\n")
        #expect(
            missing.standardErrorWithFailure == """
                Failed to check health: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /nonexistent/api.sock: connect: no such file or directory"
                Error: server is unhealthy: unable to determine health

                """)
    }

    @Test("token generate sends agent_id and ttl; the server makes the alias entry")
    func tokenGenerate() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let withID = await TokenGenerate.parseOrFail(["-spiffeID", "spiffe://example.org/node", "-ttl", "3600"] + socket).report()
            #expect(withID.standardOutput == "Token: 0b6e2f2c-token\n")
            let request = try #require(fake.requests(Spire_Api_Server_Agent_V1_CreateJoinTokenRequest.self).first)
            #expect(request.agentID == spiffeID("example.org", "/node") && request.ttl == 3600 && request.token.isEmpty)

            let withoutID = await TokenGenerate.parseOrFail(socket).report()
            #expect(withoutID.standardOutput == "Token: 0b6e2f2c-token\nWarning: Missing SPIFFE ID.\n")
            #expect(fake.requests(Spire_Api_Server_Agent_V1_CreateJoinTokenRequest.self).last?.hasAgentID == false)
            #expect(fake.requests(Spire_Api_Server_Agent_V1_CreateJoinTokenRequest.self).last?.ttl == 600)

            let json = await TokenGenerate.parseOrFail(socket + ["-output", "json"]).report()
            #expect(json.standardOutput == #"{"expires_at":"1700000600","value":"0b6e2f2c-token"}"# + "\n")
        }
        #expect(throws: CLIFailure("invalid SPIFFE ID \"node\": scheme is missing or invalid")) {
            try TokenGenerate.parse(["-spiffeID", "node"]).request()
        }
    }

    @Test("agent list, show, count, ban and evict")
    func agents() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let expiry = GoFormat.localTime(1_700_000_000)
            let block = """
                SPIFFE ID         : spiffe://example.org/spire/agent/join_token/abc
                Attestation type  : join_token
                Expiration time   : \(expiry)
                Serial number     : 1234
                Can re-attest     : false


                """
            let listed = await AgentList.parseOrFail(socket + ["-selector", "join_token:abc", "-banned", "false"]).report()
            #expect(listed.standardOutput == "Found 1 attested agent:\n\n" + block)
            let listRequest = try #require(fake.requests(Spire_Api_Server_Agent_V1_ListAgentsRequest.self).first)
            #expect(listRequest.pageSize == 1000)
            #expect(listRequest.filter.bySelectorMatch.selectors.map(\.value) == ["abc"])
            #expect(listRequest.filter.bySelectorMatch.match == .matchSuperset)
            #expect(listRequest.filter.hasByBanned && !listRequest.filter.byBanned.value && !listRequest.filter.hasByCanReattest)

            let shown = await AgentShow.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/spire/agent/join_token/abc"]).report()
            #expect(
                shown.standardOutput
                    == "Found an attested agent given its SPIFFE ID\n\n" + block + "Selectors         : join_token:abc\n")

            let unknown = await AgentShow.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/spire/agent/x"]).report()
            #expect(unknown.standardErrorWithFailure == "Error: rpc error: code = NotFound desc = agent not found\n")

            let noID = await AgentBan.parseOrFail(socket).report()
            #expect(noID.failure == "a SPIFFE ID is required")

            let counted = await AgentCount.parseOrFail(socket).report()
            #expect(counted.standardOutput == "1 attested agent\n")
            let banned = await AgentBan.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/spire/agent/join_token/abc"]).report()
            #expect(banned.standardOutput == "Agent banned successfully\n")
            let evicted = await AgentEvict.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/spire/agent/join_token/abc"]).report()
            #expect(evicted.standardOutput == "Agent evicted successfully\n")
            let json = await AgentEvict.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/spire/agent/join_token/abc", "-output", "json"]).report()
            #expect(json.standardOutput == "{}\n")
        }
        #expect(throws: CLIFailure("date is not valid: \"tomorrow\" does not match \"2006-01-02 15:04:05 -0700 -07\"")) {
            try AgentList.parse(["-expiresBefore", "tomorrow"]).filters.filter()
        }
        #expect(try AgentList.parse(["-expiresBefore", "2026-11-23 10:00:00 +0000 +00"]).filters.filter().byExpiresBefore != "")
    }

    @Test("bundle show, list, set, delete and count")
    func bundles() async throws {
        let pem = GoFormat.pem("CERTIFICATE", Fixtures.caCertificateDER)
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let shown = await BundleShow.parseOrFail(socket).report()
            #expect(shown.standardOutput == pem)

            let spiffe = await BundleShow.parseOrFail(socket + ["-format", "spiffe"]).report()
            #expect(spiffe.failure == nil)
            #expect(spiffe.standardOutput.hasPrefix("{\n    \"keys\": [\n        {\n            \"use\": \"x509-svid\",\n            \"kty\": \"EC\",\n"))
            #expect(spiffe.standardOutput.hasSuffix("    ],\n    \"spiffe_sequence\": 2,\n    \"spiffe_refresh_hint\": 300\n}\n"))
            #expect(spiffe.standardOutput.contains("\"kid\": \"kid-1\""))

            let listed = await BundleList.parseOrFail(socket).report()
            let banner = { (td: String) in "****************************************\n* \(td)\n****************************************\n" }
            #expect(listed.standardOutput == banner("other.org") + pem + "\n" + banner("third.org") + pem)
            let one = await BundleList.parseOrFail(socket + ["-id", "spiffe://other.org"]).report()
            #expect(one.standardOutput == pem)
            #expect(fake.requests(Spire_Api_Server_Bundle_V1_GetFederatedBundleRequest.self).first?.trustDomain == "spiffe://other.org")

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-cli-bundle-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let pemPath = directory.appendingPathComponent("other.pem").path
            try pem.write(toFile: pemPath, atomically: true, encoding: .utf8)
            let set = await BundleSet.parseOrFail(socket + ["-id", "spiffe://other.org", "-path", pemPath]).report()
            #expect(set.standardOutput == "bundle set.\n")
            let sent = try #require(fake.requests(Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest.self).first)
            #expect(sent.bundle.count == 1 && sent.bundle[0].trustDomain == "spiffe://other.org")
            #expect(sent.bundle[0].x509Authorities.map { Array($0.asn1) } == [Fixtures.caCertificateDER])

            let spiffePath = directory.appendingPathComponent("other.json").path
            try spiffe.standardOutput.write(toFile: spiffePath, atomically: true, encoding: .utf8)
            let setSPIFFE = await BundleSet.parseOrFail(socket + ["-id", "spiffe://other.org", "-path", spiffePath, "-format", "spiffe"]).report()
            #expect(setSPIFFE.standardOutput == "bundle set.\n")
            let sentSPIFFE = try #require(fake.requests(Spire_Api_Server_Bundle_V1_BatchSetFederatedBundleRequest.self).last)
            #expect(sentSPIFFE.bundle[0].trustDomain == "other.org")
            #expect(sentSPIFFE.bundle[0].jwtAuthorities.map(\.keyID) == ["kid-1"])
            #expect(sentSPIFFE.bundle[0].sequenceNumber == 2 && sentSPIFFE.bundle[0].refreshHint == 300)

            let refused = await BundleSet.parseOrFail(socket + ["-id", "example.org", "-path", pemPath]).report()
            #expect(refused.failure == "failed to set federated bundle: cannot set the server's own bundle")

            let deleted = await BundleDelete.parseOrFail(socket + ["-id", "other.org", "-mode", "dissociate"]).report()
            #expect(deleted.standardOutput == "bundle deleted.\n")
            #expect(fake.requests(Spire_Api_Server_Bundle_V1_BatchDeleteFederatedBundleRequest.self).first?.mode == .dissociate)
            let notDeleted = await BundleDelete.parseOrFail(socket + ["-id", "nope.org"]).report()
            #expect(notDeleted.failure == "failed to delete federated bundle \"nope.org\": no such bundle")

            let counted = await BundleCount.parseOrFail(socket).report()
            #expect(counted.standardOutput == "3 bundles\n")

            let json = await BundleShow.parseOrFail(socket + ["-output", "json"]).report()
            #expect(json.standardOutput.hasPrefix(#"{"jwt_authorities":[{"expires_at":"1700000000","key_id":"kid-1","public_key":""#))
            #expect(json.standardOutput.hasSuffix(#""refresh_hint":"300","sequence_number":"2","trust_domain":"example.org","x509_authorities":[{"asn1":""#
                + Data(Fixtures.caCertificateDER).base64EncodedString() + #"","tainted":false}]}"# + "\n"))
        }
        #expect(throws: CLIFailure("id flag is required")) { try BundleSet.parse([]).request() }
        #expect(throws: CLIFailure("invalid format: \"der\"")) { try BundleSet.parse(["-id", "x.org", "-format", "der"]).request() }
        #expect(throws: CLIFailure("unsupported mode \"purge\"")) { try BundleDelete.parse(["-id", "x.org", "-mode", "purge"]).request() }
        #expect(throws: CLIFailure("id is required")) { try BundleDelete.parse([]).request() }
    }

    @Test("x509 mint sends a CSR for the SPIFFE ID and prints or writes the SVID, key and roots")
    func x509Mint() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let minted = await X509Mint.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/w", "-dns", "w.example.org", "-ttl", "90m"]).report()
            #expect(minted.failure == nil)
            let pem = GoFormat.pem("CERTIFICATE", Fixtures.caCertificateDER)
            #expect(minted.standardOutput.hasPrefix("X509-SVID:\n\(pem)\nPrivate key:\n-----BEGIN PRIVATE KEY-----\n"))
            #expect(minted.standardOutput.hasSuffix("-----END PRIVATE KEY-----\n\nRoot CAs:\n\(pem)\n"))
            // The fake signs for an hour; 90 minutes were asked for.
            #expect(minted.standardError.hasPrefix("X509-SVID lifetime was capped shorter than specified ttl; expires \""))
            let request = try #require(fake.requests(Spire_Api_Server_Svid_V1_MintX509SVIDRequest.self).first)
            #expect(request.ttl == 5400)
            let csr = try CertificateSigningRequestCheck.sans(Array(request.csr))
            #expect(csr == ["spiffe://example.org/w", "w.example.org"])

            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-cli-mint-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let written = await X509Mint.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/w", "-write", directory.path]).report()
            #expect(written.standardOutput == """
                X509-SVID written to \(directory.path)/svid.pem
                Private key written to \(directory.path)/key.pem
                Root CAs written to \(directory.path)/bundle.pem

                """)
            let keyMode = try FileManager.default.attributesOfItem(atPath: directory.path + "/key.pem")[.posixPermissions] as? Int
            #expect(keyMode == 0o600)
            #expect(try String(contentsOfFile: directory.path + "/bundle.pem", encoding: .utf8) == pem)

            let json = await X509Mint.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/w", "-output", "json"]).report()
            #expect(json.standardOutput.hasPrefix(#"{"x509_svid":[""# + Data(Fixtures.caCertificateDER).base64EncodedString() + #""],"private_key":""#))
        }
        let missing = await X509Mint.parseOrFail(["-socketPath", "/nonexistent/api.sock"]).report()
        #expect(missing.failure == "spiffeID must be specified")
        #expect(throws: CLIFailure("invalid value \"soon\" for flag -ttl: invalid duration \"soon\" (use a number and a unit, e.g. 1h30m)")) { try MintTTL.seconds("soon") }
        #expect(try MintTTL.seconds("1500ms") == 2)
    }

    @Test("jwt mint sends the ID, audiences and ttl and prints the token")
    func jwtMint() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let minted = await JWTMint.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/w", "-audience", "a", "-audience", "b", "-ttl", "1m"]).report()
            #expect(minted.failure == nil)
            let request = try #require(fake.requests(Spire_Api_Server_Svid_V1_MintJWTSVIDRequest.self).first)
            #expect(request.id == spiffeID("example.org", "/w") && request.audience == ["a", "b"] && request.ttl == 60)
            #expect(minted.standardOutput.split(separator: ".").count == 3)
            #expect(minted.standardError.isEmpty)
            let capped = await JWTMint.parseOrFail(socket + ["-spiffeID", "spiffe://example.org/w", "-audience", "a", "-ttl", "1h"]).report()
            #expect(capped.standardError.hasPrefix("JWT-SVID lifetime was capped shorter than specified ttl; expires \""))
        }
        #expect(throws: CLIFailure("at least one audience must be specified")) { try JWTMint.parse(["-spiffeID", "spiffe://e.org/w"]).request() }
        #expect(throws: CLIFailure("spiffeID must be specified")) { try JWTMint.parse([]).request() }
        #expect(JWTMint.expiry(ofToken: Fixtures.token(expiresAt: 1_800_000_000)) == 1_800_000_000)
    }

    @Test("localauthority x509|jwt show, prepare, activate, taint and revoke")
    func localAuthority() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let expires = "  Expires at: 2023-11-14 22:13:20 +0000 UTC\n"
            let shown = await LocalAuthorityShow<X509Kind>.parseOrFail(socket).report()
            #expect(
                shown.standardOutput == "Active X.509 authority:\n  Authority ID: active-id\n" + expires
                    + "  Upstream authority ID: No upstream authority\n\n"
                    + "Prepared X.509 authority:\n  No prepared X.509 authority found\n\n"
                    + "Old X.509 authority:\n  Authority ID: old-id\n" + expires + "  Upstream authority Subject Key ID: ab:cd\n")
            let jwt = await LocalAuthorityShow<JWTKind>.parseOrFail(socket).report()
            #expect(
                jwt.standardOutput == "Active JWT authority:\n  Authority ID: active-id\n" + expires + "\n"
                    + "Prepared JWT authority:\n  No prepared JWT authority found\n\n"
                    + "Old JWT authority:\n  No old JWT authority found\n")
            let prepared = await LocalAuthorityPrepare<X509Kind>.parseOrFail(socket).report()
            #expect(prepared.standardOutput == "Prepared X.509 authority:\n  Authority ID: prepared-id\n" + expires + "  Upstream authority ID: No upstream authority\n")
            let activated = await LocalAuthorityActivate<JWTKind>.parseOrFail(socket + ["-authorityID", "prepared-id"]).report()
            #expect(activated.standardOutput == "Activated JWT authority:\n  Authority ID: prepared-id\n" + expires)
            let tainted = await LocalAuthorityTaint<JWTKind>.parseOrFail(socket + ["-authorityID", "active-id"]).report()
            #expect(tainted.failure == "could not taint JWT authority: rpc error: code = FailedPrecondition desc = only the old authority can be tainted")
            let revoked = await LocalAuthorityRevoke<X509Kind>.parseOrFail(socket + ["-authorityID", "old-id"]).report()
            #expect(revoked.standardOutput.hasPrefix("Revoked X.509 authority:\n  Authority ID: old-id\n"))
            let noID = await LocalAuthorityRevoke<X509Kind>.parseOrFail(socket).report()
            #expect(noID.failure == "an authority ID is required")
            let json = await LocalAuthorityShow<JWTKind>.parseOrFail(socket + ["-output", "json"]).report()
            #expect(json.standardOutput == #"{"active":{"authority_id":"active-id","expires_at":"1700000000","upstream_authority_subject_key_id":""}}"# + "\n")
            #expect(fake.requests(Spire_Api_Server_Localauthority_V1_AuthorityIDRequest.self).map(\.authorityID) == ["prepared-id", "active-id", "old-id"])
        }
    }

    @Test("lineage-server's subcommand tree parses SPIRE's command lines")
    func commandTree() throws {
        struct Root: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "lineage-server", subcommands: AdminCommands.all)
        }
        #expect(try Root.parseAsRoot(["entry", "create", "-spiffeID", "spiffe://e.org/a", "-node", "-selector", "a:b"]) is EntryCreate)
        #expect(try Root.parseAsRoot(["localauthority", "x509", "taint", "-authorityID", "x"]) is LocalAuthorityTaint<X509Kind>)
        #expect(try Root.parseAsRoot(["localauthority", "jwt", "show"]) is LocalAuthorityShow<JWTKind>)
        #expect(try Root.parseAsRoot(["token", "generate", "-ttl", "60"]) is TokenGenerate)
        #expect(try Root.parseAsRoot(["healthcheck", "-shallow"]) is HealthcheckCommand)
        #expect(try Root.parseAsRoot(["x509", "mint", "-spiffeID", "spiffe://e.org/a"]) is X509Mint)
    }
}
