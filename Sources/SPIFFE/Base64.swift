/// Strict base64 (RFC 4648 §4) and base64url (§5) codecs.
///
/// JWS compact serialisation and JWK members use base64url without padding (RFC 7515 §2); `x5c`
/// uses standard base64 with padding (RFC 7517 §4.7). Decoding is strict: the wrong alphabet,
/// wrong padding, and non-zero leftover bits are all rejected, so one byte sequence has exactly
/// one accepted encoding and a token cannot be altered without changing its decoded bytes.
enum Base64 {
    enum Alphabet {
        /// `+/` with `=` padding.
        case standard
        /// `-_` without padding.
        case url
    }

    private static let standardTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Collection<UInt8>, alphabet: Alphabet) -> String {
        let table = alphabet == .standard ? standardTable : urlTable
        let input = Array(bytes)
        var output: [UInt8] = []
        output.reserveCapacity((input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            for shift in [18, 12, 6, 0] { output.append(table[Int(chunk >> UInt32(shift) & 0x3F)]) }
            index += 3
        }
        let remaining = input.count - index
        if remaining > 0 {
            var chunk = UInt32(input[index]) << 16
            if remaining == 2 { chunk |= UInt32(input[index + 1]) << 8 }
            output.append(table[Int(chunk >> 18 & 0x3F)])
            output.append(table[Int(chunk >> 12 & 0x3F)])
            if remaining == 2 { output.append(table[Int(chunk >> 6 & 0x3F)]) }
            if alphabet == .standard { output += Array(repeating: UInt8(ascii: "="), count: 3 - remaining) }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes `string`, or returns nil when it is not the canonical encoding in `alphabet`.
    static func decode(_ string: some StringProtocol, alphabet: Alphabet) -> [UInt8]? {
        var characters = Array(string.utf8)
        if alphabet == .standard {
            guard characters.count % 4 == 0 else { return nil }
            var padding = 0
            while padding < 2, characters.last == UInt8(ascii: "=") {
                characters.removeLast()
                padding += 1
            }
        }
        // A single leftover character cannot encode a whole byte.
        guard characters.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(characters.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for character in characters {
            guard let value = sextet(character, alphabet: alphabet) else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits must be zero (RFC 4648 §3.5, canonical encoding).
        guard accumulator == 0 else { return nil }
        return output
    }

    private static func sextet(_ character: UInt8, alphabet: Alphabet) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+") where alphabet == .standard: 62
        case UInt8(ascii: "/") where alphabet == .standard: 63
        case UInt8(ascii: "-") where alphabet == .url: 62
        case UInt8(ascii: "_") where alphabet == .url: 63
        default: nil
        }
    }
}
