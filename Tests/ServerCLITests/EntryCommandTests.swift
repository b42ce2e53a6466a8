import Foundation
import SwiftProtobuf
import Testing
import SPIFFE
import Wire
import ArgumentParser

@testable import ServerCLI

@Suite("entry verbs")
struct EntryCommandTests {
    // MARK: - Validation: nothing is sent

    @Test(
        "entry create refuses bad flags before sending anything",
        arguments: [
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/agent"], "at least one selector is required"),
            (["-spiffeID", "spiffe://example.org/web", "-selector", "unix:uid:0"], "a parent ID is required if the node flag is not set"),
            (["-parentID", "spiffe://example.org/agent", "-selector", "unix:uid:0"], "a SPIFFE ID is required"),
            (["-node", "-spiffeID", "spiffe://example.org/n", "-selector", "a:b", "-federatesWith", "spiffe://o.org"], "node entries can not federate"),
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/a", "-selector", "unix"],
             "selector \"unix\" must be formatted as type:value"),
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/a", "-selector", "a:b", "-x509SVIDTTL", "-1"],
             "a positive x509-SVID TTL is required"),
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/a", "-selector", "a:b", "-jwtSVIDTTL", "-5"],
             "a positive JWT-SVID TTL is required"),
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/a", "-selector", "a:b", "-x509SVIDTTL", "3000000000"],
             "invalid value for X509 SVID TTL: value 3000000000 out of range for int32"),
            (["-spiffeID", "http://example.org/web", "-parentID", "spiffe://example.org/a", "-selector", "a:b"],
             "invalid SPIFFE ID \"http://example.org/web\": scheme is missing or invalid"),
            (["-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://Example.org/a", "-selector", "a:b"],
             "invalid SPIFFE ID \"spiffe://Example.org/a\": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"),
        ])
    func createValidation(arguments: [String], message: String) async throws {
        try await FakeServer.with { fake in
            let command = try EntryCreate.parse(arguments + ["-socketPath", fake.socketPath])
            let console = await command.report()
            #expect(console.failure == message)
            #expect(console.standardErrorWithFailure == "Error: \(message)\n")
            #expect(console.exitCode == 1)
            #expect(console.standardOutput.isEmpty)
            #expect(fake.requestCount == 0)
        }
    }

    @Test("entry update and show validate as SPIRE does")
    func updateAndShowValidation() throws {
        #expect(throws: CLIFailure("entry ID is required")) {
            try EntryUpdate.parse(["-spiffeID", "spiffe://e.org/a", "-parentID", "spiffe://e.org/b", "-selector", "a:b"]).requestEntries()
        }
        #expect(throws: CLIFailure("a parent ID is required")) {
            try EntryUpdate.parse(["-entryID", "x", "-spiffeID", "spiffe://e.org/a", "-selector", "a:b"]).requestEntries()
        }
        #expect(throws: CLIFailure("the -entryID flag can't be combined with others")) {
            try EntryShow.parse(["-entryID", "x", "-spiffeID", "spiffe://e.org/a"]).listRequest()
        }
        #expect(throws: CLIFailure("match behavior \"most\" unknown")) {
            try EntryShow.parse(["-selector", "a:b", "-matchSelectorsOn", "most"]).listRequest()
        }
        #expect(throws: CLIFailure("error parsing SPIFFE ID \"nope\": invalid SPIFFE ID \"nope\": scheme is missing or invalid")) {
            try EntryShow.parse(["-spiffeID", "nope"]).listRequest()
        }
        #expect(throws: CLIFailure("an entry ID is required")) { try EntryDelete.parse([]).requestIDs() }
    }

    // MARK: - Flag → request mapping

    @Test("selectors split on the first colon; repeated flags keep their order")
    func createMapping() throws {
        let command = try EntryCreate.parse([
            "-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/spire/agent/x",
            "-selector", "k8s:ns:default", "-selector", "unix:uid:1000", "-dns", "web.example.org", "-dns", "web",
            "-x509SVIDTTL", "3600", "-jwtSVIDTTL", "300", "-federatesWith", "spiffe://other.org", "-admin", "-downstream",
            "-hint", "primary", "-entryExpiry", "1900000000", "-entryID", "custom-id", "-storeSVID",
        ])
        let entries = try command.requestEntries()
        #expect(entries.count == 1)
        let entry = entries[0]
        #expect(entry.id == "custom-id")
        #expect(entry.spiffeID == spiffeID("example.org", "/web"))
        #expect(entry.parentID == spiffeID("example.org", "/spire/agent/x"))
        #expect(entry.selectors.map { "\($0.type)|\($0.value)" } == ["k8s|ns:default", "unix|uid:1000"])
        #expect(entry.dnsNames == ["web.example.org", "web"])
        #expect(entry.x509SvidTtl == 3600)
        #expect(entry.jwtSvidTtl == 300)
        #expect(entry.federatesWith == ["spiffe://other.org"])
        #expect(entry.admin && entry.downstream && entry.storeSvid)
        #expect(entry.hint == "primary")
        #expect(entry.expiresAt == 1_900_000_000)
    }

    @Test("-node entries are parented to the server of the SPIFFE ID's trust domain, ignoring -parentID")
    func nodeParent() throws {
        let entries = try EntryCreate.parse([
            "-node", "-spiffeID", "spiffe://prod.example/nodes/linux", "-selector", "join_token:abc",
            "-parentID", "spiffe://prod.example/ignored",
        ]).requestEntries()
        #expect(entries[0].parentID == spiffeID("prod.example", "/spire/server"))
    }

    @Test("show and count always send by_downstream, and the other filters only when given")
    func filterMapping() throws {
        let plain = try #require(try EntryShow.parse([]).listRequest())
        #expect(plain.filter.hasByDownstream && plain.filter.byDownstream.value == false)
        #expect(!plain.filter.hasBySpiffeID && !plain.filter.hasByParentID && !plain.filter.hasBySelectors)
        #expect(!plain.filter.hasByHint && !plain.filter.hasByFederatesWith)
        #expect(plain.pageSize == 500)

        let filtered = try #require(
            try EntryShow.parse([
                "-spiffeID", "spiffe://e.org/a", "-parentID", "spiffe://e.org/p", "-selector", "unix:uid:0",
                "-matchSelectorsOn", "exact", "-federatesWith", "o.org", "-matchFederatesWithOn", "any", "-hint", "h",
                "-downstream",
            ]).listRequest())
        #expect(filtered.filter.bySpiffeID == spiffeID("e.org", "/a"))
        #expect(filtered.filter.byParentID == spiffeID("e.org", "/p"))
        #expect(filtered.filter.bySelectors.match == .matchExact)
        #expect(filtered.filter.bySelectors.selectors.map(\.value) == ["uid:0"])
        #expect(filtered.filter.byFederatesWith.match == .matchAny)
        #expect(filtered.filter.byFederatesWith.trustDomains == ["o.org"])
        #expect(filtered.filter.byHint.value == "h")
        #expect(filtered.filter.byDownstream.value)
        #expect(try EntryShow.parse(["-entryID", "x"]).listRequest() == nil)
    }

    // MARK: - -data files

    @Test("-data reads SPIRE's entries JSON")
    func dataFile() throws {
        let json = """
            {"entries": [
              {"selectors": [{"type": "unix", "value": "uid:1111"}], "spiffe_id": "spiffe://example.org/Blog",
               "parent_id": "spiffe://example.org/spire/agent/join_token/TokenBlog", "x509_svid_ttl": 200,
               "jwt_svid_ttl": 30, "admin": true, "federates_with": ["spiffe://other.org", "third.org"],
               "entryExpiry": 1900000000, "dns_names": ["blog"], "Hint": "internal", "unknown": 1}
            ]}
            """
        let entries = try EntryDataFile.entries(from: Array(json.utf8))
        #expect(entries.count == 1)
        #expect(entries[0].spiffeID == spiffeID("example.org", "/Blog"))
        #expect(entries[0].parentID == spiffeID("example.org", "/spire/agent/join_token/TokenBlog"))
        #expect(entries[0].selectors.map(\.value) == ["uid:1111"])
        #expect(entries[0].x509SvidTtl == 200 && entries[0].jwtSvidTtl == 30 && entries[0].admin)
        #expect(entries[0].federatesWith == ["other.org", "third.org"])
        #expect(entries[0].expiresAt == 1_900_000_000)
        #expect(entries[0].dnsNames == ["blog"])
        #expect(entries[0].hint == "internal")
    }

    @Test(
        "-data errors name the field as SPIRE's do",
        arguments: [
            (#"{"entries":[{"spiffe_id":"spiffe://e.org/a","parent_id":"spiffe://e.org/b","x509_svid_ttl":"x"}]}"#,
             "json: cannot unmarshal string into Go struct field RegistrationEntry.entries.x509_svid_ttl of type int32"),
            (#"{"entries":[{"spiffe_id":"e.org/a","parent_id":"spiffe://e.org/b"}]}"#, "invalid SPIFFE ID: scheme is missing or invalid"),
            (#"{"entries":[{"spiffe_id":"spiffe://e.org/a"}]}"#, "invalid parent ID: cannot be empty"),
            (#"{"entries":[{"spiffe_id":"spiffe://e.org/a","parent_id":"spiffe://e.org/b","federates_with":["UP"]}]}"#,
             "invalid federated trust domain: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores"),
            ("[1]", "json: cannot unmarshal array of type common.RegistrationEntries"),
        ])
    func dataFileErrors(json: String, message: String) {
        #expect(throws: CLIFailure(message)) { try EntryDataFile.entries(from: Array(json.utf8)) }
    }

    @Test("a -data file over the size limit is refused before it is parsed")
    func dataFileLimit() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-cli-big-\(UUID().uuidString.prefix(8)).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data(count: Limits.entryDataFileBytesMax + 1))
        #expect(throws: CLIFailure("\(path) is larger than \(Limits.entryDataFileBytesMax) bytes")) {
            try EntryCreate.parse(["-data", path]).requestEntries()
        }
        #expect(throws: CLIFailure("open /nonexistent/entries.json: no such file or directory")) {
            try EntryCreate.parse(["-data", "/nonexistent/entries.json"]).requestEntries()
        }
    }

    // MARK: - Golden text

    static let fullEntry: Spire_Api_Types_Entry = {
        var entry = Spire_Api_Types_Entry()
        entry.id = "0c4b2d3e"
        entry.spiffeID = spiffeID("example.org", "/web")
        entry.parentID = spiffeID("example.org", "/spire/agent/join_token/abc")
        entry.revisionNumber = 2
        entry.downstream = true
        entry.x509SvidTtl = 3600
        entry.expiresAt = 1_900_000_000
        var selector = Spire_Api_Types_Selector()
        selector.type = "k8s"
        selector.value = "ns:default"
        entry.selectors = [selector]
        entry.federatesWith = ["other.org"]
        entry.dnsNames = ["web.example.org"]
        entry.admin = true
        entry.storeSvid = true
        entry.hint = "primary"
        return entry
    }()

    @Test("the entry block matches SPIRE's printEntry line for line")
    func entryBlock() {
        #expect(
            EntryText.block(Self.fullEntry) == """
                Entry ID                : 0c4b2d3e
                SPIFFE ID               : spiffe://example.org/web
                Parent ID               : spiffe://example.org/spire/agent/join_token/abc
                Revision                : 2
                Downstream              : true
                X509-SVID TTL           : 3600
                JWT-SVID TTL            : default
                Expiration time         : 2030-03-17 17:46:40 +0000 UTC
                Selector                : k8s:ns:default
                FederatesWith           : other.org
                DNS name                : web.example.org
                Admin                   : true
                StoreSvid               : true
                Hint                    : primary


                """)
        #expect(
            EntryText.block(Spire_Api_Types_Entry()) == """
                Entry ID                : (none)
                SPIFFE ID               : 
                Parent ID               : 
                Revision                : 0
                X509-SVID TTL           : default
                JWT-SVID TTL            : default


                """)
    }

    @Test("-output json is protojson with every unpopulated field, members sorted")
    func jsonOutput() throws {
        var response = Spire_Api_Server_Entry_V1_ListEntriesResponse()
        var entry = Spire_Api_Types_Entry()
        entry.id = "e1"
        entry.spiffeID = spiffeID("example.org", "/web")
        entry.selectors = [try FlagValues.selector("unix:uid:0")]
        response.entries = [entry]
        #expect(
            try ProtoJSON.render(response) == #"""
                {"entries":[{"admin":false,"created_at":"0","dns_names":[],"downstream":false,"expires_at":"0","federates_with":[],"hint":"","id":"e1","jwt_svid_ttl":0,"revision_number":"0","selectors":[{"type":"unix","value":"uid:0"}],"spiffe_id":{"path":"/web","trust_domain":"example.org"},"store_svid":false,"x509_svid_ttl":0}],"next_page_token":""}
                """#)
        var count = Spire_Api_Server_Entry_V1_CountEntriesResponse()
        count.count = 0
        #expect(try ProtoJSON.render(count) == #"{"count":0}"#)
        #expect(GoJSON.compact(.string("<a&b>")) == #""\u003ca\u0026b\u003e""#)
    }

    // MARK: - End to end against the fake server

    @Test("entry create, show, count, update and delete over the socket")
    func endToEnd() async throws {
        try await FakeServer.with { fake in
            let socket = ["-socketPath", fake.socketPath]
            let created = await EntryCreate.parseOrFail([
                "-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/spire/agent/x",
                "-selector", "unix:uid:1000", "-x509SVIDTTL", "600",
            ] + socket).report()
            #expect(created.failure == nil)
            #expect(
                created.standardOutput == """
                    Entry ID                : entry-1
                    SPIFFE ID               : spiffe://example.org/web
                    Parent ID               : spiffe://example.org/spire/agent/x
                    Revision                : 0
                    X509-SVID TTL           : 600
                    JWT-SVID TTL            : default
                    Selector                : unix:uid:1000


                    """)
            let sent = try #require(fake.requests(Spire_Api_Server_Entry_V1_BatchCreateEntryRequest.self).first)
            #expect(sent.entries.count == 1 && !sent.hasOutputMask)

            _ = await EntryCreate.parseOrFail([
                "-spiffeID", "spiffe://example.org/api", "-parentID", "spiffe://example.org/spire/agent/x", "-selector", "unix:uid:2",
            ] + socket).report()

            let duplicate = await EntryCreate.parseOrFail([
                "-spiffeID", "spiffe://example.org/dup", "-parentID", "spiffe://example.org/spire/agent/x", "-selector", "unix:uid:1",
            ] + socket).report()
            #expect(duplicate.exitCode == 1)
            #expect(duplicate.standardOutput.isEmpty)
            #expect(
                duplicate.standardErrorWithFailure == """
                    Failed to create the following entry (code: AlreadyExists, msg: "similar entry already exists"):
                    Entry ID                : (none)
                    SPIFFE ID               : spiffe://example.org/dup
                    Parent ID               : spiffe://example.org/spire/agent/x
                    Revision                : 0
                    X509-SVID TTL           : default
                    JWT-SVID TTL            : default
                    Selector                : unix:uid:1

                    Error: failed to create one or more entries

                    """)

            // Two pages (the fake serves one entry per page), sorted by SPIFFE ID as SPIRE does.
            let shown = await EntryShow.parseOrFail(socket).report()
            #expect(shown.failure == nil)
            #expect(shown.standardOutput.hasPrefix("Found 2 entries\nEntry ID                : entry-2\nSPIFFE ID               : spiffe://example.org/api\n"))
            #expect(fake.requests(Spire_Api_Server_Entry_V1_ListEntriesRequest.self).map(\.pageToken) == ["", "1"])

            let one = await EntryShow.parseOrFail(["-entryID", "entry-1"] + socket).report()
            #expect(one.standardOutput.hasPrefix("Found 1 entry\nEntry ID                : entry-1\n"))

            let missing = await EntryShow.parseOrFail(["-entryID", "nope"] + socket).report()
            #expect(missing.standardErrorWithFailure == "Error: error fetching entry ID nope: rpc error: code = NotFound desc = entry not found\n")

            let json = await EntryShow.parseOrFail(["-entryID", "entry-1", "-output", "json"] + socket).report()
            #expect(json.standardOutput.hasPrefix(#"{"entries":[{"admin":false,"#))
            #expect(json.standardOutput.hasSuffix("],\"next_page_token\":\"\"}\n"))

            let counted = await EntryCount.parseOrFail(socket).report()
            #expect(counted.standardOutput == "2 registration entries\n")

            let updated = await EntryUpdate.parseOrFail([
                "-entryID", "entry-1", "-spiffeID", "spiffe://example.org/web", "-parentID", "spiffe://example.org/spire/agent/x",
                "-selector", "unix:uid:1001",
            ] + socket).report()
            #expect(updated.standardOutput.contains("Revision                : 1\n"))
            #expect(updated.standardOutput.contains("Selector                : unix:uid:1001\n"))

            let deleted = await EntryDelete.parseOrFail(["-entryID", "entry-1"] + socket).report()
            #expect(deleted.standardOutput == "Deleted entry with ID: entry-1\n\n\nDeleted 1 entries successfully")
            let notDeleted = await EntryDelete.parseOrFail(["-entryID", "entry-1"] + socket).report()
            #expect(notDeleted.standardOutput == "\n\nFailed to delete 1 entries")
            #expect(
                notDeleted.standardErrorWithFailure
                    == "Failed to delete entry with ID entry-1 (code: NotFound, msg: \"entry not found\")\nError: failed to delete one or more entries\n")
        }
    }

    @Test("a missing socket is an Unavailable error naming the path")
    func missingSocket() async throws {
        let console = await EntryCount.parseOrFail(["-socketPath", "/nonexistent/lineage/api.sock"]).report()
        #expect(
            console.standardErrorWithFailure == """
                Error: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix /nonexistent/lineage/api.sock: connect: no such file or directory"

                """)
        #expect(console.exitCode == 1)
    }
}

extension ServerCommand {
    /// Parses `arguments`, recording a test failure (and returning the defaults) if they do not parse.
    static func parseOrFail(_ arguments: [String]) -> Self {
        do {
            return try parse(arguments)
        } catch {
            Issue.record("could not parse \(arguments): \(error)")
            return try! parse([])
        }
    }
}
