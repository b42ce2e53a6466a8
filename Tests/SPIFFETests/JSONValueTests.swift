import Testing

@testable import SPIFFE

@Suite struct JSONValueTests {
    func parse(_ text: String) throws(SPIFFEError) -> JSONValue {
        try JSONValue(parsing: Array(text.utf8), errorCode: .malformedBundle)
    }

    @Test func canonicalTextRoundTripsByteForByte() throws {
        let text = #"{"a":[1,-2.5e+3,true,false,null,"x\"\\\n\u001f"],"b":{},"c":[],"d":18446744073709551615}"#
        #expect(String(decoding: try parse(text).encoded, as: UTF8.self) == text)
    }

    @Test func membersAreSortedAndWhitespaceDropped() throws {
        let value = try parse(" { \"z\" : 1 ,\n\t\"a\" : \"/\" } ")
        #expect(String(decoding: value.encoded, as: UTF8.self) == #"{"a":"/","z":1}"#)
    }

    @Test func numbersKeepTheirLiteral() throws {
        let value = try parse("[18446744073709551615, 9223372036854775807, -1, 1.5, 1e3]")
        let numbers = try #require(value.arrayValue).compactMap(\.numberValue)
        #expect(numbers[0].uint64Value == UInt64.max)
        #expect(numbers[0].int64Value == nil)
        #expect(numbers[1].int64Value == Int64.max)
        #expect(numbers[2].uint64Value == nil)
        #expect(numbers[3].int64Value == nil)
        #expect(numbers[3].doubleValue == 1.5)
        #expect(numbers[4].int64Value == nil)
    }

    @Test func escapesDecode() throws {
        let value = try parse(#""\u00e9\ud83d\ude00\/""#)
        #expect(value == .string("é😀/"))
    }

    @Test(arguments: [#"{"a":1,"a":2}"#, #"{"x":{"b":1,"b":1}}"#, #"[{"k":1,"k":null}]"#])
    func duplicateMembersAreRejected(text: String) {
        expectSPIFFEError(.duplicateJSONMember) { try parse(text) }
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", "-", "1e", "tru", "nul", "\"abc",
        "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\u{01}\"", "{} {}", "[1] x", "'a'", "+1", "NaN",
    ])
    func syntaxErrorsUseTheCallersCode(text: String) {
        expectSPIFFEError(.malformedBundle) { try parse(text) }
    }

    @Test func invalidUTF8IsRejected() {
        expectSPIFFEError(.malformedJWT) {
            try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22], errorCode: .malformedJWT)
        }
    }

    @Test func nestingIsBounded() throws {
        let ok = String(repeating: "[", count: Limits.jsonDepthMax) + String(repeating: "]", count: Limits.jsonDepthMax)
        _ = try parse(ok)
        let deep = "[" + ok + "]"
        expectSPIFFEError(.inputTooLarge) { try parse(deep) }
    }
}

@Suite struct Base64Tests {
    @Test(arguments: 0..<8)
    func roundTripsInBothAlphabets(length: Int) throws {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 97 + 251) }
        for alphabet in [Base64.Alphabet.standard, .url] {
            let text = Base64.encode(bytes, alphabet: alphabet)
            #expect(Base64.decode(text, alphabet: alphabet) == bytes)
        }
        #expect(!Base64.encode(bytes, alphabet: .url).contains("="))
    }

    @Test func knownVectors() {
        #expect(Base64.encode(Array("foob".utf8), alphabet: .standard) == "Zm9vYg==")
        #expect(Base64.encode(Array("foob".utf8), alphabet: .url) == "Zm9vYg")
        #expect(Base64.encode([0xFB, 0xFF], alphabet: .standard) == "+/8=")
        #expect(Base64.encode([0xFB, 0xFF], alphabet: .url) == "-_8")
    }

    @Test(arguments: ["Zm9vYg=", "Zm9vYh==", "Zm9vY", "Zm9v=Yg=", "-_8=", "Zm9vYg==="])
    func nonCanonicalStandardIsRejected(text: String) {
        #expect(Base64.decode(text, alphabet: .standard) == nil)
    }

    @Test(arguments: ["Zm9vYg==", "Zm9vYh", "Zm9vY", "+/8", "Zm9v Yg"])
    func nonCanonicalURLIsRejected(text: String) {
        #expect(Base64.decode(text, alphabet: .url) == nil)
    }
}
