import SPIFFE
import Testing

/// Conformance vectors of SPIFFE-WIRE.md §5.1 (go-spiffe `spiffeid` tests and py-spiffe), plus
/// SPIRE's SPI-01-003 path-normalisation vectors. Each rejection asserts the rule that was broken.
@Suite("SPIFFE ID parsing")
struct SPIFFEIDTests {
    static let trustDomainBytes: [UInt8] = Array("abcdefghijklmnopqrstuvwxyz0123456789.-_".utf8)
    static let pathBytes: [UInt8] = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_".utf8)

    static let accepted: [(String, String, String)] = [
        // (input, trust domain, path) — vectors 1–10.
        ("spiffe://trustdomain", "trustdomain", ""),
        ("spiffe://trustdomain/path", "trustdomain", "/path"),
        ("spiffe://trustdomain/.path", "trustdomain", "/.path"),
        ("spiffe://trustdomain/..path", "trustdomain", "/..path"),
        ("spiffe://trustdomain/...", "trustdomain", "/..."),
        ("spiffe://trustdomain./path", "trustdomain.", "/path"),
        ("spiffe://trustdomain-/path", "trustdomain-", "/path"),
        ("spiffe://trustdomain_/path", "trustdomain_", "/path"),
        ("spiffe://1.2.3.4/service", "1.2.3.4", "/service"),
        ("spiffe://a", "a", ""),
        ("spiffe://a_b.example/foo", "a_b.example", "/foo"),
        ("spiffe://example..org/path", "example..org", "/path"),
        ("spiffe://.example.org/path", ".example.org", "/path"),
        ("spiffe://example.org./path", "example.org.", "/path"),
        ("spiffe://-example.org/path", "-example.org", "/path"),
        ("spiffe://example-.org/path", "example-.org", "/path"),
        ("spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453", "example.com",
         "/9eebccd2-12bf-40a6-b262-65fe0487d453"),
        ("spiffe://domain.test/a/b/c/d/e/f/g", "domain.test", "/a/b/c/d/e/f/g"),
    ]

    @Test("accepted vectors", arguments: accepted)
    func accepts(input: String, trustDomain: String, path: String) throws {
        let id = try SPIFFEID(parsing: input)
        #expect(id.trustDomain.name == trustDomain)
        #expect(id.path == path)
        #expect(id.string == input)
    }

    @Test("every legal path byte is accepted (vector 7)", arguments: pathBytes)
    func acceptsPathByte(byte: UInt8) throws {
        let input = "spiffe://trustdomain/path" + String(decoding: [byte], as: UTF8.self)
        #expect(try SPIFFEID(parsing: input).path == "/path" + String(decoding: [byte], as: UTF8.self))
    }

    static let rejected: [(String, SPIFFEIDError.Rule)] = [
        ("", .empty),
        ("s", .scheme),
        ("spiffe:/", .scheme),
        ("Spiffe://", .scheme),
        ("SPIFFE://EXAMPLE.ORG/service", .scheme),
        ("notspiffe://example.org", .scheme),
        ("spiffe:/trustdomain/path", .scheme),
        ("spiffe://", .trustDomainMissing),
        ("spiffe:///", .trustDomainMissing),
        ("spiffe:///path", .trustDomainMissing),
        ("spiffe://trustdomain/", .trailingSlash),
        ("spiffe://trustdomain/path/", .trailingSlash),
        ("spiffe://trustdomain//", .emptySegment),
        ("spiffe://trustdomain//path", .emptySegment),
        ("spiffe://example.org/foo//bar", .emptySegment),
        ("spiffe://trustdomain/.", .dotSegment),
        ("spiffe://trustdomain/./path", .dotSegment),
        ("spiffe://trustdomain/path/./other", .dotSegment),
        ("spiffe://trustdomain/path/..", .dotSegment),
        ("spiffe://trustdomain/..", .dotSegment),
        ("spiffe://trustdomain/../path", .dotSegment),
        ("spiffe://trustdomain/path/../other", .dotSegment),
        ("spiffe://%F0%9F%A4%AF/path", .trustDomainCharacter),
        ("spiffe://%62%61%64/path", .trustDomainCharacter),
        ("spiffe://trustdomain/%F0%9F%A4%AF", .pathCharacter),
        ("spiffe://trustdomain/%62%61%64", .pathCharacter),
        ("spiffe://trust$domain", .trustDomainCharacter),
        ("spiffe://trustdomain/path$", .pathCharacter),
        ("spiffe://example.org?query=123", .queryOrFragment),
        ("spiffe://user@example.org/service", .userinfo),
        ("spiffe://user:pass@example.org/service", .userinfo),
        ("spiffe://example.org:8080/service", .port),
        ("spiffe://1.2.3.4:8443/service", .port),
        ("spiffe://[::1]/service", .trustDomainCharacter),
        ("spiffe://[2001:db8::1]/service", .trustDomainCharacter),
        ("spiffe://example%2eorg/service", .trustDomainCharacter),
        ("spiffe://example.org/foo%2Fbar", .pathCharacter),
        ("spiffe://example.org/%61pi", .pathCharacter),
        ("spiffe://example.org/service?x=1", .queryOrFragment),
        ("spiffe://example.org/service#frag", .queryOrFragment),
        ("spiffe://example.org/foo;bar", .pathCharacter),
        ("spiffe://example.org/foo:bar", .pathCharacter),
        ("spiffe://example.org/foo@bar", .pathCharacter),
        ("spiffe://example.org/foo bar", .pathCharacter),
        ("spiffe://trustdomain/pathé", .pathCharacter),
        ("spiffe://trustdomainé/path", .trustDomainCharacter),
    ]

    @Test("rejected vectors name the broken rule", arguments: rejected)
    func rejects(input: String, rule: SPIFFEIDError.Rule) {
        #expect(throws: SPIFFEIDError(rule, input: input)) { try SPIFFEID(parsing: input) }
    }

    /// Vector 32: every byte outside `[a-z0-9._-]` (and other than `/`) in the trust domain.
    @Test("every illegal trust-domain byte is rejected (vector 32)")
    func rejectsTrustDomainBytes() {
        for byte in UInt8(0)...UInt8(255) where !Self.trustDomainBytes.contains(byte) && byte != UInt8(ascii: "/") {
            let input = "spiffe://trustdomain" + Self.character(byte) + "/path"
            #expect(throws: SPIFFEIDError.self, "byte \(byte)") { try SPIFFEID(parsing: input) }
            if let error = Self.error(input) {
                #expect([.trustDomainCharacter, .userinfo, .port, .queryOrFragment].contains(error.rule), "byte \(byte)")
            }
        }
    }

    /// Vector 33: every byte outside `[A-Za-z0-9._-]` (and other than `/`) in the path.
    @Test("every illegal path byte is rejected (vector 33)")
    func rejectsPathBytes() {
        for byte in UInt8(0)...UInt8(255) where !Self.pathBytes.contains(byte) && byte != UInt8(ascii: "/") {
            let input = "spiffe://trustdomain/path" + Self.character(byte)
            let rule = Self.error(input)?.rule
            #expect(rule == .pathCharacter || rule == .queryOrFragment, "byte \(byte)")
        }
    }

    /// SPIRE's removed `idutil/safety_test.go` vectors (RELIABILITY.md §3, SPI-01-003).
    static let spireSafetyVectors: [String] = [
        "spiffe://example.org/",
        "spiffe://example.org//workload",
        "spiffe://example.org/./workload",
        "spiffe://example.org/workload/../workload2",
        "spiffe://example.org/%2e%2e/workload",
        "spiffe://example.org/%252e",
        "spiffe://example.org/%23",
        "spiffe://example.org/%00",
        "spiffe://eXaMplE.org/w",
        "spiffe://%45example.org/w",
        "sPiFfE://example.org/w",
        "spiffe://example.org/wörkload",
        "spiffe://example.org/" + String(repeating: "a", count: 2048),
        "spiffe://" + String(repeating: "a", count: 256) + "/w",
    ]

    @Test("SPIRE path-normalisation vectors are rejected", arguments: spireSafetyVectors)
    func rejectsSPIRESafetyVectors(input: String) {
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID(parsing: input) }
    }

    @Test("length limits: 2048 bytes accepted, 2049 rejected")
    func lengthLimits() throws {
        let prefix = "spiffe://example.org/"
        let fits = prefix + String(repeating: "a", count: 2048 - prefix.utf8.count)
        #expect(try SPIFFEID(parsing: fits).string.utf8.count == 2048)
        #expect(throws: SPIFFEIDError(.tooLong, input: "")) { try SPIFFEID(parsing: fits + "a") }
        #expect(throws: SPIFFEIDError(.trustDomainTooLong, input: "")) {
            try TrustDomain(String(repeating: "a", count: 256))
        }
        #expect(try TrustDomain(String(repeating: "a", count: 255)).name.count == 255)
    }

    static func character(_ byte: UInt8) -> String {
        byte < 0x80 ? String(UnicodeScalar(byte)) : String(decoding: [0xC3, byte | 0x80], as: UTF8.self)
    }

    static func error(_ input: String) -> SPIFFEIDError? {
        do { _ = try SPIFFEID(parsing: input); return nil } catch { return error }
    }
}

@Suite("SPIFFE ID helpers")
struct SPIFFEIDHelperTests {
    let td = try! TrustDomain("trustdomain")

    @Test("segment builders validate each segment (vector 42)")
    func segments() throws {
        #expect(throws: SPIFFEIDError(.emptySegment, input: "")) { try SPIFFEID(trustDomain: td, segments: [""]) }
        #expect(throws: SPIFFEIDError(.pathCharacter, input: "")) { try SPIFFEID(trustDomain: td, segments: ["/"]) }
        #expect(throws: SPIFFEIDError(.pathCharacter, input: "")) { try SPIFFEID(trustDomain: td, segments: ["/foo"]) }
        #expect(throws: SPIFFEIDError(.pathCharacter, input: "")) { try SPIFFEID(trustDomain: td, segments: ["$"]) }
        #expect(throws: SPIFFEIDError(.dotSegment, input: "")) { try SPIFFEID(trustDomain: td, segments: [".."]) }
        #expect(try SPIFFEID(trustDomain: td, segments: ["foo", "bar"]).string == "spiffe://trustdomain/foo/bar")
        #expect(try SPIFFEID(trustDomain: td, segments: []).path == "")
        #expect(try SPIFFEID(trustDomain: td, path: "/a/b").segments == ["a", "b"])
        #expect(throws: SPIFFEIDError(.pathCharacter, input: "")) { try SPIFFEID(trustDomain: td, path: "a") }
        #expect(throws: SPIFFEIDError(.dotSegment, input: "")) { try SPIFFEID(trustDomain: td, path: "/a/../b") }
        let base = try SPIFFEID(parsing: "spiffe://trustdomain/ns")
        #expect(try base.appending(segments: ["web"]).string == "spiffe://trustdomain/ns/web")
    }

    @Test("trust domain from a name, an ID, or an ID with a path (vector 43)",
          arguments: ["trustdomain", "spiffe://trustdomain", "spiffe://trustdomain/path"])
    func trustDomainParsing(input: String) throws {
        let parsed = try TrustDomain(parsing: input)
        #expect(parsed == td)
        #expect(parsed.idString == "spiffe://trustdomain")
        #expect(parsed.id.isTrustDomainID)
    }

    @Test("trust domain rejections")
    func trustDomainRejections() {
        #expect(throws: SPIFFEIDError(.trustDomainMissing, input: "")) { try TrustDomain(parsing: "") }
        #expect(throws: SPIFFEIDError(.trustDomainCharacter, input: "")) { try TrustDomain("Example.org") }
        #expect(throws: SPIFFEIDError(.port, input: "")) { try TrustDomain("example.org:80") }
        #expect(throws: SPIFFEIDError(.userinfo, input: "")) { try TrustDomain("u@example.org") }
        #expect(throws: SPIFFEIDError(.scheme, input: "")) { try TrustDomain(parsing: "http://example.org") }
    }

    @Test("membership and SPIRE's reserved namespace")
    func reserved() throws {
        let other = try TrustDomain("other")
        let agent = try SPIFFEID.agent(in: td, attestor: "join_token", segments: ["abc"])
        #expect(agent.string == "spiffe://trustdomain/spire/agent/join_token/abc")
        #expect(agent.isAgent && agent.isInReservedSPIRENamespace)
        #expect(agent.isMember(of: td) && !agent.isMember(of: other))
        #expect(SPIFFEID.server(in: td).string == "spiffe://trustdomain/spire/server")
        #expect(SPIFFEID.server(in: td).isServer)
        #expect(try SPIFFEID(parsing: "spiffe://trustdomain/spire").isInReservedSPIRENamespace)
        #expect(try !SPIFFEID(parsing: "spiffe://trustdomain/spireish").isInReservedSPIRENamespace)
        #expect(try !SPIFFEID(parsing: "spiffe://trustdomain/workload").isInReservedSPIRENamespace)
        // A join token carrying a path separator or dot segment cannot shape the agent ID (SPI-01-007).
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID.agent(in: td, attestor: "join_token", segments: ["a/../b"]) }
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID.agent(in: td, attestor: "join_token", segments: [".."]) }
        #expect(throws: SPIFFEIDError.self) { try SPIFFEID.agent(in: td, attestor: "join_token", segments: ["a\u{0}"]) }
    }

    @Test("ordering and equality are by value")
    func ordering() throws {
        let a = try SPIFFEID(parsing: "spiffe://td/a")
        let b = try SPIFFEID(parsing: "spiffe://td/b")
        #expect(a < b)
        #expect(try SPIFFEID(parsing: "spiffe://td/a") == a)
        #expect(Set([a, b, a]).count == 2)
    }
}
