import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Turns the configured servers into the addresses the agent fails over between: IP literals
/// stay as they are, a DNS name becomes every address it resolves to (SPIRE users point agents
/// at one name with an A record per server). The agent resolves names itself, rather than
/// leaving them to the gRPC transport, so that each address is a server of its own to move to
/// (and to name in the log) when the one in use fails.
public struct ServerResolver: Sendable {
    /// The addresses (IP literals) of a DNS name, in the resolver's order.
    public typealias Lookup = @Sendable (_ name: String) async throws -> [String]

    let lookup: Lookup

    public init(lookup: @escaping Lookup) {
        self.lookup = lookup
    }

    /// getaddrinfo(3), on a thread of its own (it blocks).
    public static let system = ServerResolver(lookup: { name in try await systemLookup(name) })

    /// What one round of resolution produced: the addresses to try, and the names that failed.
    public struct Resolution: Sendable, Equatable {
        public var endpoints: [ServerEndpoint]
        public var failures: [String: String]
    }

    /// The configured servers with names expanded, in configuration order, without duplicates.
    /// A name that does not resolve is left as a name (the transport tries DNS again when it is
    /// dialled), so the list is never empty.
    public func resolve(_ configured: [ServerEndpoint]) async -> Resolution {
        var resolved: [String: Result<[String], any Error>] = [:]
        for endpoint in configured where !endpoint.isIPLiteral && resolved[endpoint.host] == nil {
            do {
                resolved[endpoint.host] = .success(try await lookup(endpoint.host))
            } catch {
                resolved[endpoint.host] = .failure(error)
            }
        }
        return Self.expand(configured, resolved: resolved)
    }

    /// Pure: the expansion of `configured` given what each name resolved to.
    static func expand(_ configured: [ServerEndpoint], resolved: [String: Result<[String], any Error>]) -> Resolution {
        var endpoints: [ServerEndpoint] = []
        var seen: Set<String> = []
        var failures: [String: String] = [:]
        func add(_ endpoint: ServerEndpoint) {
            let key = "\(endpoint.host)|\(endpoint.port)"
            if seen.insert(key).inserted { endpoints.append(endpoint) }
        }
        for endpoint in configured {
            guard !endpoint.isIPLiteral, let result = resolved[endpoint.host] else {
                add(endpoint)
                continue
            }
            switch result {
            case .success(let addresses) where !addresses.isEmpty:
                for address in addresses.prefix(Limits.resolvedAddressesPerNameMax) {
                    add(ServerEndpoint(host: address, port: endpoint.port, name: endpoint.host))
                }
            case .success:
                failures[endpoint.host] = "no address"
                add(endpoint)
            case .failure(let error):
                failures[endpoint.host] = "\(error)"
                add(endpoint)
            }
        }
        return Resolution(endpoints: endpoints, failures: failures)
    }

    public struct LookupError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    static func systemLookup(_ name: String) async throws -> [String] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[String], any Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { try blockingLookup(name) })
            }
        }
    }

    static func blockingLookup(_ name: String) throws -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0 else {
            throw LookupError(description: "cannot resolve \(name): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        var addresses: [String] = []
        var node = list
        while let current = node {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            switch current.pointee.ai_family {
            case AF_INET:
                current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count))
                }
            case AF_INET6:
                current.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &raw, &buffer, socklen_t(buffer.count))
                }
            default:
                break
            }
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !text.isEmpty && !addresses.contains(text) { addresses.append(text) }
            node = current.pointee.ai_next
        }
        return addresses
    }
}
