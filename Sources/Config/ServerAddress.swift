/// One entry of the agent's `server_address`: where a server (a cluster member, or a DNS name
/// standing for several) listens.
///
/// `server_address` is a comma-separated list; each entry is `host`, `host:port`, `[v6]` or
/// `[v6]:port`, and `server_port` is the port of entries that name none. A host is an IPv4
/// literal, an IPv6 literal (in brackets) or a DNS name, which the agent resolves itself and may
/// stand for several servers.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    public enum Host: Hashable, Sendable {
        case ipv4(String)
        case ipv6(String)
        /// A DNS name: resolved by the agent when it picks a server, to every address it has.
        case name(String)

        public var text: String {
            switch self {
            case .ipv4(let text), .ipv6(let text), .name(let text): return text
            }
        }
    }

    public let host: Host
    public let port: UInt16

    public init(host: Host, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        if case .ipv6(let text) = host { return "[\(text)]:\(port)" }
        return "\(host.text):\(port)"
    }

    /// A bound on the list: it is typed by an operator, and every entry may expand to several
    /// addresses at resolution.
    public static let entriesMax = 32

    /// Parses `server_address`. Errors name the entry (its text and position) and what is wrong
    /// with it; the caller adds the file and line.
    public static func parseList(_ text: String, defaultPort: UInt16) throws(ServerAddressError) -> [ServerAddress] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { trimmed($0) }
        guard parts.count <= entriesMax else {
            throw ServerAddressError("lists \(parts.count) servers; at most \(entriesMax) are allowed")
        }
        var addresses: [ServerAddress] = []
        for (position, part) in parts.enumerated() {
            let name = parts.count > 1 ? "entry \(position + 1) (\"\(part)\")" : "\"\(part)\""
            guard !part.isEmpty else {
                throw ServerAddressError(
                    parts.count > 1 ? "entry \(position + 1) is empty (a stray comma?)" : "is empty")
            }
            let address: ServerAddress
            do {
                address = try parseEntry(part, defaultPort: defaultPort)
            } catch {
                throw ServerAddressError("\(name): \(error.message)")
            }
            if addresses.contains(address) {
                throw ServerAddressError("\(name): \(address) is listed twice")
            }
            addresses.append(address)
        }
        return addresses
    }

    static func parseEntry(_ text: String, defaultPort: UInt16) throws(ServerAddressError) -> ServerAddress {
        if text.contains("://") {
            throw ServerAddressError("a server address is host or host:port, without a scheme")
        }
        let hostText: Substring
        var portText: Substring?
        var bracketed = false
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ServerAddressError("\"[\" without \"]\"") }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw ServerAddressError("expected \":port\" after \"]\"") }
                portText = rest.dropFirst()
            }
            bracketed = true
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons > 1 {
                throw ServerAddressError("an IPv6 address must be in brackets, as in [\(text)]:8081")
            }
            if let colon = text.firstIndex(of: ":") {
                hostText = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                hostText = text[...]
            }
        }
        let port: UInt16
        if let portText {
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(portText), (1...65535).contains(value) else {
                throw ServerAddressError("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = UInt16(value)
        } else {
            guard defaultPort != 0 else { throw ServerAddressError("names no port and server_port is 0") }
            port = defaultPort
        }
        guard !hostText.isEmpty else { throw ServerAddressError("the host is empty") }
        let host = String(hostText)
        if bracketed {
            guard isIPv6(host) else { throw ServerAddressError("\"\(host)\" is not an IPv6 address") }
            return ServerAddress(host: .ipv6(host), port: port)
        }
        if host.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) {
            guard isIPv4(host) else { throw ServerAddressError("\"\(host)\" is not an IPv4 address") }
            return ServerAddress(host: .ipv4(host), port: port)
        }
        if let problem = dnsNameProblem(host) { throw ServerAddressError("\"\(host)\" is not a DNS name: \(problem)") }
        return ServerAddress(host: .name(host), port: port)
    }

    /// True for a dotted-quad IPv4 address.
    public static func isIPv4Literal(_ text: String) -> Bool { isIPv4(text) }

    static func isIPv4(_ text: String) -> Bool {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { octet in
            !octet.isEmpty && octet.count <= 3 && (Int(octet).map { $0 <= 255 } ?? false)
        }
    }

    /// A shape check (hex groups, at most one "::", an optional dotted IPv4 tail); the resolver
    /// has the last word.
    static func isIPv6(_ text: String) -> Bool {
        guard text.count <= 45, text.contains(":") else { return false }
        let characters = Array(text)
        var doubleColons = 0
        for index in characters.indices.dropLast() where characters[index] == ":" && characters[index + 1] == ":" {
            doubleColons += 1
        }
        // ":::" counts twice, so it is refused with any second "::".
        guard doubleColons <= 1 else { return false }
        var groups = text.split(separator: ":", omittingEmptySubsequences: true)
        var groupsMax = 8
        if let last = groups.last, last.contains(".") {
            guard isIPv4(String(last)) else { return false }
            groups.removeLast()
            groupsMax = 6
        }
        guard groups.allSatisfy({ $0.count <= 4 && $0.allSatisfy(\.isHexDigit) }) else { return false }
        return doubleColons == 1 ? groups.count < groupsMax : groups.count == groupsMax
    }

    /// RFC 1123 host names (underscores allowed, as resolvers do), nil when acceptable.
    static func dnsNameProblem(_ name: String) -> String? {
        let trimmed = name.hasSuffix(".") ? String(name.dropLast()) : name
        guard trimmed.utf8.count <= 253 else { return "longer than 253 characters" }
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty else { return "an empty label" }
            guard label.utf8.count <= 63 else { return "the label \"\(label)\" is longer than 63 characters" }
            guard label.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                return "the label \"\(label)\" has a character other than letters, digits, \"-\" and \"_\""
            }
            guard !label.hasPrefix("-"), !label.hasSuffix("-") else { return "the label \"\(label)\" starts or ends with \"-\"" }
        }
        return nil
    }

    private static func trimmed(_ text: Substring) -> String {
        var text = text
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return String(text)
    }
}

public struct ServerAddressError: Error, Hashable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
