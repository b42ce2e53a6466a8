/// The address of a SPIFFE Workload API endpoint, as given in `SPIFFE_ENDPOINT_SOCKET`
/// (SPIFFE_Workload_Endpoint.md §4): `unix:///absolute/path` or `tcp://<IP>:<port>`.
///
/// Stricter than go-spiffe: `unix://foo` (an authority instead of a path) is rejected because
/// the spec forbids an authority, as py-spiffe does.
public enum WorkloadEndpoint: Hashable, Sendable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// The environment variable clients read when no address is configured.
    public static let environmentVariable = "SPIFFE_ENDPOINT_SOCKET"

    public init(parsing address: String) throws(SPIFFEError) {
        func reject(_ why: String) -> SPIFFEError {
            let shown = address.count > 128 ? String(address.prefix(128)) + "…" : address
            return SPIFFEError(.invalidEndpointAddress, "workload endpoint socket URI \"\(shown)\": \(why)")
        }
        if address.utf8.count > Limits.endpointAddressBytesMax { throw reject("address is too long") }
        guard let colon = address.firstIndex(of: ":") else {
            throw reject("scheme must be unix or tcp")
        }
        let scheme = address[..<colon]
        let rest = address[address.index(after: colon)...]
        guard scheme == "unix" || scheme == "tcp" else { throw reject("scheme must be unix or tcp") }
        guard rest.hasPrefix("//") else { throw reject("URI must not be opaque") }
        let hierarchical = rest.dropFirst(2)
        if hierarchical.contains("?") { throw reject("URI must not include a query") }
        if hierarchical.contains("#") { throw reject("URI must not include a fragment") }
        let slash = hierarchical.firstIndex(of: "/") ?? hierarchical.endIndex
        let authority = hierarchical[..<slash]
        let path = hierarchical[slash...]
        if authority.contains("@") { throw reject("URI must not include user info") }

        if scheme == "unix" {
            if !authority.isEmpty {
                throw reject("unix socket URI must not include an authority (use unix:///absolute/path)")
            }
            if path.isEmpty || path == "/" { throw reject("unix socket URI must include a path") }
            self = .unix(path: String(path))
            return
        }

        if !path.isEmpty { throw reject("tcp socket URI must not include a path") }
        if authority.isEmpty { throw reject("tcp socket URI must include a host") }
        let (host, portText) = Self.splitHostPort(authority)
        guard Self.isIPAddress(host) else { throw reject("tcp socket URI host component must be an IP:port") }
        guard let portText, !portText.isEmpty else { throw reject("tcp socket URI must include a port") }
        guard portText.allSatisfy(\.isASCII), let port = UInt16(portText), port > 0 else {
            throw reject("tcp socket URI port must be a number from 1 to 65535")
        }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix://" + path
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }

    /// Splits `host:port` or `[v6]:port`.
    private static func splitHostPort(_ authority: Substring) -> (Substring, Substring?) {
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            let host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            return (host, after.hasPrefix(":") ? after.dropFirst() : (after.isEmpty ? nil : after))
        }
        guard let colon = authority.lastIndex(of: ":") else { return (authority, nil) }
        return (authority[..<colon], authority[authority.index(after: colon)...])
    }

    static func isIPAddress(_ host: Substring) -> Bool { isIPv4(host) || isIPv6(host) }

    static func isIPv4(_ host: Substring) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy { $0.isASCII && $0.isNumber }
                && Int(part)! <= 255 && !(part.count > 1 && part.hasPrefix("0"))
        }
    }

    static func isIPv6(_ host: Substring) -> Bool {
        guard host.contains(":"), host.count <= 45 else { return false }
        let groups = host.split(separator: ":", omittingEmptySubsequences: false)
        let compressions = host.ranges(of: "::").count
        guard compressions <= 1, groups.count <= 8 + (compressions == 1 ? 1 : 0) else { return false }
        if compressions == 0 && groups.count != 8 { return false }
        return groups.allSatisfy { group in group.count <= 4 && group.allSatisfy(\.isHexDigit) }
    }
}
