import IdentityModel
import Testing

@Suite("Selector parsing")
struct SelectorTests {
    @Test("splits on the first colon", arguments: [
        ("unix:uid:1000", "unix", "uid:1000"),
        ("k8s:ns:default", "k8s", "ns:default"),
        ("k8s:pod-label:app:web", "k8s", "pod-label:app:web"),
        ("docker:image_id:sha256:abc", "docker", "image_id:sha256:abc"),
        ("join_token:node-1", "join_token", "node-1"),
        ("a:b", "a", "b"),
        ("a::", "a", ":"),
        ("x509pop:subject:cn:some name", "x509pop", "subject:cn:some name"),
    ])
    func parses(text: String, type: String, value: String) throws {
        let selector = try Selector(parsing: text)
        #expect(selector.type == type)
        #expect(selector.value == value)
        #expect(selector.description == text)
        #expect(try Selector(parsing: selector.description) == selector)
    }

    @Test("rejects a missing half or separator", arguments: [
        (":x", ValidationError(field: "type", .empty)),
        ("x:", ValidationError(field: "value", .empty)),
        ("x", ValidationError(field: "", .missingSeparator)),
        ("", ValidationError(field: "", .missingSeparator)),
        (":", ValidationError(field: "type", .empty)),
    ])
    func rejects(text: String, error: ValidationError) {
        #expect(throws: error) { try Selector(parsing: text) }
    }

    @Test("rejects control characters in either half")
    func controlCharacters() {
        #expect(throws: ValidationError(field: "type", .invalidCharacter)) { try Selector(parsing: "un\tix:uid:0") }
        #expect(throws: ValidationError(field: "value", .invalidCharacter)) { try Selector(parsing: "unix:uid:0\n") }
        #expect(throws: ValidationError(field: "value", .invalidCharacter)) { try Selector(type: "unix", value: "\u{7F}") }
    }

    @Test("a type cannot contain a colon, so the text form is unambiguous")
    func typeWithColon() {
        #expect(throws: ValidationError(field: "type", .invalidCharacter)) { try Selector(type: "k8s:ns", value: "default") }
    }

    @Test("lengths are bounded")
    func bounded() throws {
        let maxType = String(repeating: "t", count: IdentityModel.Limits.selectorTypeBytesMax)
        let maxValue = String(repeating: "v", count: IdentityModel.Limits.selectorValueBytesMax)
        _ = try Selector(type: maxType, value: maxValue)
        #expect(throws: ValidationError(field: "type", .tooLong(maxBytes: IdentityModel.Limits.selectorTypeBytesMax))) {
            try Selector(type: maxType + "t", value: "v")
        }
        #expect(throws: ValidationError(field: "value", .tooLong(maxBytes: IdentityModel.Limits.selectorValueBytesMax))) {
            try Selector(parsing: "t:" + maxValue + "v")
        }
    }

    @Test("non-ASCII values are kept as they are")
    func unicode() throws {
        let selector = try Selector(parsing: "k8s:pod-label:team:ü")
        #expect(selector.value == "pod-label:team:ü")
    }

    @Test("orders by type, then value")
    func ordering() throws {
        let sorted = try ["unix:uid:1", "k8s:ns:b", "k8s:ns:a"].map { try Selector(parsing: $0) }.sorted()
        #expect(sorted.map(\.description) == ["k8s:ns:a", "k8s:ns:b", "unix:uid:1"])
    }
}
