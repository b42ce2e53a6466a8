import Foundation

/// Envoy bootstraps in the shape of Istio's sidecar (SPIFFE-WIRE §3.3): a STATIC HTTP/2 cluster
/// `sds-grpc` on the agent socket, `default` for the certificate and `ROOTCA` through a combined
/// validation context, `set_node_on_first_message_only: true`, `initial_fetch_timeout: 0s`.
/// JSON is valid YAML, so the bootstraps are written as JSON.
enum EnvoyConfig {
    static func sdsConfig() -> [String: Any] {
        [
            "resource_api_version": "V3",
            "initial_fetch_timeout": "0s",
            "api_config_source": [
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "set_node_on_first_message_only": true,
                "grpc_services": [["envoy_grpc": ["cluster_name": "sds-grpc"]]],
            ] as [String: Any],
        ]
    }

    static func commonTLSContext(peerID: String) -> [String: Any] {
        [
            "tls_certificate_sds_secret_configs": [["name": "default", "sds_config": sdsConfig()]],
            "combined_validation_context": [
                "default_validation_context": [
                    "match_typed_subject_alt_names": [["san_type": "URI", "matcher": ["exact": peerID]]]
                ],
                "validation_context_sds_secret_config": ["name": "ROOTCA", "sds_config": sdsConfig()],
            ] as [String: Any],
        ]
    }

    static func sdsCluster(socketPath: String) -> [String: Any] {
        [
            "name": "sds-grpc",
            "type": "STATIC",
            "connect_timeout": "1s",
            "typed_extension_protocol_options": [
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": [
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    "explicit_http_config": ["http2_protocol_options": [:] as [String: Any]],
                ] as [String: Any]
            ],
            "load_assignment": [
                "cluster_name": "sds-grpc",
                "endpoints": [["lb_endpoints": [["endpoint": ["address": ["pipe": ["path": socketPath]]]]]]],
            ] as [String: Any],
        ]
    }

    static func address(_ port: Int) -> [String: Any] {
        ["socket_address": ["address": "127.0.0.1", "port_value": port]]
    }

    static func httpManager(route: [String: Any]) -> [String: Any] {
        [
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": [
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": "ingress",
                "route_config": [
                    "name": "local",
                    "virtual_hosts": [["name": "all", "domains": ["*"], "routes": [["match": ["prefix": "/"]].merging(route) { $1 }]]],
                ] as [String: Any],
                "http_filters": [[
                    "name": "envoy.filters.http.router",
                    "typed_config": ["@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"],
                ] as [String: Any]],
            ] as [String: Any],
        ]
    }

    /// The mTLS server: a listener that requires a client SVID whose URI SAN is `clientID` and
    /// answers every request itself.
    static func server(socketPath: String, port: Int, adminPort: Int, clientID: String) -> [String: Any] {
        [
            "node": ["id": "server-sidecar", "cluster": "server"],
            "admin": ["address": address(adminPort)],
            "static_resources": [
                "listeners": [[
                    "name": "mtls",
                    "address": address(port),
                    "filter_chains": [[
                        "filters": [httpManager(route: ["direct_response": ["status": 200, "body": ["inline_string": "hello over mTLS"]]])],
                        "transport_socket": [
                            "name": "envoy.transport_sockets.tls",
                            "typed_config": [
                                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                                "require_client_certificate": true,
                                "common_tls_context": commonTLSContext(peerID: clientID),
                            ] as [String: Any],
                        ] as [String: Any],
                    ] as [String: Any]],
                ] as [String: Any]],
                "clusters": [sdsCluster(socketPath: socketPath)],
            ] as [String: Any],
        ]
    }

    /// The client proxy: plain HTTP in on `port`, mTLS out to the server, which must present
    /// `serverID`.
    static func client(socketPath: String, port: Int, adminPort: Int, serverPort: Int, serverID: String) -> [String: Any] {
        [
            "node": ["id": "client-sidecar-\(port)", "cluster": "client"],
            "admin": ["address": address(adminPort)],
            "static_resources": [
                "listeners": [[
                    "name": "outbound",
                    "address": address(port),
                    "filter_chains": [["filters": [httpManager(route: ["route": ["cluster": "server", "timeout": "3s"]])]]],
                ] as [String: Any]],
                "clusters": [
                    sdsCluster(socketPath: socketPath),
                    [
                        "name": "server",
                        "type": "STATIC",
                        "connect_timeout": "2s",
                        "load_assignment": [
                            "cluster_name": "server",
                            "endpoints": [["lb_endpoints": [["endpoint": ["address": address(serverPort)]]]]],
                        ] as [String: Any],
                        "transport_socket": [
                            "name": "envoy.transport_sockets.tls",
                            "typed_config": [
                                "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                                "common_tls_context": commonTLSContext(peerID: serverID),
                            ] as [String: Any],
                        ] as [String: Any],
                    ] as [String: Any],
                ],
            ] as [String: Any],
        ]
    }

    static func write(_ config: [String: Any], to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    }

    /// Free loopback TCP ports, found by binding to port 0.
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for socket in sockets { close(socket) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ExternalProcess.Failure(description: "socket() failed") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                    bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            guard bound else { throw ExternalProcess.Failure(description: "bind() failed") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }
}
