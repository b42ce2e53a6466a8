import SPIFFE

/// `lineage-server run -config server.conf`: SPIRE's server configuration layout, typed.
///
/// Defaults are SPIRE's with Lineage's paths (shared/DESIGN.md): admin socket
/// `/tmp/lineage-server/private/api.sock`, data directory `.data`, port 8081.
public struct ServerConfig: Sendable, Equatable, CommonSettings {
    public enum KeyType: String, Sendable, CaseIterable {
        case ecP256 = "ec-p256"
        case ecP384 = "ec-p384"
        case rsa2048 = "rsa-2048"
        case rsa4096 = "rsa-4096"
    }

    public struct CASubject: Sendable, Equatable {
        public var country: [String] = ["US"]
        public var organization: [String] = ["SPIFFE"]
        public var commonName = ""

        public init(country: [String] = ["US"], organization: [String] = ["SPIFFE"], commonName: String = "") {
            self.country = country
            self.organization = organization
            self.commonName = commonName
        }
    }

    public struct RateLimit: Sendable, Equatable {
        /// SPIRE's `ratelimit { attestation = true signing = true }`: each limit can be turned
        /// off (for servers behind a load balancer where every caller shares one address).
        public var attestation = true
        public var signing = true

        public init(attestation: Bool = true, signing: Bool = true) {
            self.attestation = attestation
            self.signing = signing
        }
    }

    public enum KeyManager: Sendable, Equatable {
        case memory
        /// Keys persisted in one file (SPIRE's `keys_path`), written 0600 in a 0700 directory.
        case disk(keysPath: String)
    }

    public enum NodeAttestor: Sendable, Equatable {
        case joinToken
        case x509pop(caBundlePaths: [String])
    }

    public struct UpstreamAuthority: Sendable, Equatable {
        public var certFilePath: String
        public var keyFilePath: String
        public var bundleFilePath: String?
    }

    /// Lineage's own `server { cluster { node_name peers = ["s2=host:port"] } }`.
    public struct Cluster: Sendable, Equatable {
        public struct Peer: Sendable, Equatable {
            public var name: String
            public var address: String
        }
        public var nodeName: String
        /// The other bootstrap members; empty in join mode.
        public var peers: [Peer]
        /// `join = true`: this server is not a bootstrap member; it waits (admin socket only)
        /// until `lineage-server cluster join -address` adds it to a running cluster.
        public var join = false
        /// `advertise_address = "host:port"`: where the other members reach this server's TLS
        /// listener, recorded in the log when it joins. Default: bind_address:bind_port unless
        /// bind_address is a wildcard.
        public var advertiseAddress: String?
        /// `snapshot_interval_entries`: applied entries between this member's snapshots (the
        /// log before a snapshot is dropped, and a member that fell behind it is sent the
        /// snapshot). nil: the log driver's default (1,000,000).
        public var snapshotIntervalEntries: UInt64? = nil
    }

    public var trustDomain: TrustDomain
    public var bindAddress = "0.0.0.0"
    public var bindPort: UInt16 = 8081
    public var socketPath = "/tmp/lineage-server/private/api.sock"
    public var dataDir = ".data"
    public var logLevel = LogLevel.info
    public var logFormat = LogFormat.text
    /// SPIRE's `log_file`: log lines go to this file (appended) instead of standard error.
    public var logFile: String?
    public var caTTL: Duration = .seconds(24 * 3600)
    public var defaultX509SVIDTTL: Duration = .seconds(3600)
    public var defaultJWTSVIDTTL: Duration = .seconds(300)
    /// Agent SVID lifetime; SPIRE's default is `default_x509_svid_ttl`.
    public var agentTTL: Duration?
    public var caKeyType = KeyType.ecP256
    /// JWT signing key type; SPIRE's default is `ca_key_type`.
    public var jwtKeyType: KeyType?
    public var caSubject = CASubject()
    public var jwtIssuer: String?
    public var adminIDs: [SPIFFEID] = []
    public var rateLimit = RateLimit()
    public var cluster: Cluster?
    public var keyManager = KeyManager.memory
    public var nodeAttestors: [NodeAttestor] = []
    public var upstreamAuthority: UpstreamAuthority?
    public var telemetry = TelemetryConfig()
    public var healthChecks = HealthChecksConfig()

    /// Keys SPIRE defines that this configuration set but Lineage ignores.
    public var warnings: [ConfigWarning] = []

    /// Command-line flags that override the file (`-trustDomain`, `-dataDir`, …).
    public struct Overrides: Sendable {
        public var trustDomain: String?
        public var dataDir: String?
        public var bindAddress: String?
        public var bindPort: UInt16?
        public var socketPath: String?
        public var logLevel: String?

        public init(trustDomain: String? = nil, dataDir: String? = nil, bindAddress: String? = nil,
                    bindPort: UInt16? = nil, socketPath: String? = nil, logLevel: String? = nil) {
            self.trustDomain = trustDomain
            self.dataDir = dataDir
            self.bindAddress = bindAddress
            self.bindPort = bindPort
            self.socketPath = socketPath
            self.logLevel = logLevel
        }
    }

    /// SPIRE server keys Lineage does not implement: warnings, not errors.
    static let spireServerKeys: Set<String> = [
        "audit_log_enabled", "experimental", "federation", "disable_jwt_svids", "log_source_location", "prune_attested_nodes_expired_for", "prune_attested_nodes_batch_size",
        "prune_tofu_nodes", "proxy_protocol_trusted_cidrs", "max_attested_node_info_staleness",
        "profiling_enabled", "profiling_port", "profiling_freq", "profiling_names",
        "default_svid_ttl", "use_legacy_downstream_x509_ca_ttl", "omit_x509svid_uid", "ca_subject_serial_number",
    ]
    static let spireServerPluginTypes: Set<String> = [
        "DataStore", "Notifier", "BundlePublisher", "CredentialComposer", "NodeResolver",
    ]

    /// Parses a configuration file's text. With `environment`, `$VAR`/`${VAR}` are expanded
    /// first (`-expandEnv`).
    public static func parse(
        _ text: String, file: String, environment: [String: String]? = nil, overrides: Overrides = Overrides()
    ) throws(ConfigError) -> ServerConfig {
        try CommonConfigReader.parse(text, file: file, environment: environment, mainBlock: "server") {
            (main, root, warnings) throws(ConfigError) in
            var config = try readServer(&main, overrides: overrides, warnings: &warnings)
            try readPlugins(&root, into: &config, warnings: &warnings)
            if config.cluster != nil && config.upstreamAuthority == nil {
                // Members authenticate each other before any log entry is replicated, so they
                // need a root they all trust from the start: the shared upstream authority.
                let location = main.object.items.first { $0.name == "cluster" }?.value.location ?? main.location
                throw ConfigError(
                    "\"server.cluster\" requires an UpstreamAuthority \"disk\" plugin with the same upstream CA on every member "
                        + "(a cluster bootstraps its trust from that pre-shared bundle)", at: location)
            }
            return config
        }
    }

    private init(trustDomain: TrustDomain) {
        self.trustDomain = trustDomain
    }

    private static func readServer(
        _ server: inout BlockReader, overrides: Overrides, warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> ServerConfig {
        let trustDomainLocation = server.object.items.first { $0.name == "trust_domain" }?.value.location ?? server.location
        let trustDomainText = try server.string("trust_domain")
        var config: ServerConfig
        do {
            if let flag = overrides.trustDomain {
                config = ServerConfig(trustDomain: try TrustDomain(parsing: flag))
            } else if let trustDomainText {
                config = ServerConfig(trustDomain: try TrustDomain(parsing: trustDomainText))
            } else {
                throw ConfigError("\"server.trust_domain\" is required", at: server.location)
            }
        } catch let error as SPIFFEIDError {
            let location = overrides.trustDomain != nil ? "-trustDomain" : trustDomainLocation.description
            throw ConfigError("trust domain: \(error)", where: location)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("trust domain: \(error)", at: trustDomainLocation)
        }
        config.bindAddress = flagOrFile(overrides.bindAddress, try server.string("bind_address")) ?? config.bindAddress
        config.bindPort = flagOrFile(overrides.bindPort, try server.port("bind_port")) ?? config.bindPort
        config.socketPath = flagOrFile(overrides.socketPath, try server.string("socket_path")) ?? config.socketPath
        config.dataDir = flagOrFile(overrides.dataDir, try server.string("data_dir")) ?? config.dataDir
        config.logLevel = try CommonConfigReader.logLevel(&server, flag: overrides.logLevel) ?? config.logLevel
        config.logFormat = try CommonConfigReader.logFormat(&server) ?? config.logFormat
        config.logFile = try server.string("log_file")
        config.caTTL = try server.duration("ca_ttl") ?? config.caTTL
        config.defaultX509SVIDTTL = try server.duration("default_x509_svid_ttl") ?? config.defaultX509SVIDTTL
        config.defaultJWTSVIDTTL = try server.duration("default_jwt_svid_ttl") ?? config.defaultJWTSVIDTTL
        config.agentTTL = try server.duration("agent_ttl")
        config.caKeyType = try keyType(&server, "ca_key_type") ?? config.caKeyType
        config.jwtKeyType = try keyType(&server, "jwt_key_type")
        config.jwtIssuer = try server.string("jwt_issuer")
        config.adminIDs = try spiffeIDs(&server, "admin_ids")
        if var subject = try server.block("ca_subject") {
            config.caSubject.country = try subject.stringList("country") ?? config.caSubject.country
            config.caSubject.organization = try subject.stringList("organization") ?? config.caSubject.organization
            config.caSubject.commonName = try subject.string("common_name") ?? config.caSubject.commonName
            try subject.finish(warnings: &warnings)
        }
        if var rateLimit = try server.block("ratelimit") {
            config.rateLimit.attestation = try rateLimit.bool("attestation") ?? true
            config.rateLimit.signing = try rateLimit.bool("signing") ?? true
            try rateLimit.finish(warnings: &warnings)
        }
        config.cluster = try readCluster(&server, warnings: &warnings)
        try validateDurations(config, at: server.location)
        try server.finish(spireKeys: spireServerKeys, warnings: &warnings)
        return config
    }

    private static func readCluster(
        _ server: inout BlockReader, warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> Cluster? {
        guard var block = try server.block("cluster") else { return nil }
        guard let nodeName = try block.string("node_name"), !nodeName.isEmpty else {
            throw ConfigError("\"server.cluster.node_name\" is required", at: block.location)
        }
        var peers: [Cluster.Peer] = []
        let peersLocation = block.object.items.first { $0.name == "peers" }?.value.location ?? block.location
        for text in try block.stringList("peers") ?? [] {
            let parts = text.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].contains(":") else {
                throw ConfigError("\"server.cluster.peers\" entries look like \"name=host:port\", got \"\(text)\"",
                                  at: peersLocation)
            }
            guard !peers.contains(where: { $0.name == parts[0] }), parts[0] != nodeName else {
                throw ConfigError("\"server.cluster.peers\" names \"\(parts[0])\" twice", at: peersLocation)
            }
            peers.append(Cluster.Peer(name: String(parts[0]), address: String(parts[1])))
        }
        let join = try block.bool("join") ?? false
        if join && !peers.isEmpty {
            throw ConfigError("\"server.cluster.join\" = true takes no \"peers\": a joining server learns the members from the cluster",
                              at: peersLocation)
        }
        let advertiseLocation = block.object.items.first { $0.name == "advertise_address" }?.value.location ?? block.location
        let advertise = try block.string("advertise_address")
        if let advertise, advertise.split(separator: ":").count < 2 {
            throw ConfigError("\"server.cluster.advertise_address\" looks like \"host:port\", got \"\(advertise)\"", at: advertiseLocation)
        }
        let interval = try block.int("snapshot_interval_entries", range: 10...100_000_000).map(UInt64.init)
        try block.finish(warnings: &warnings)
        return Cluster(
            nodeName: nodeName, peers: peers, join: join, advertiseAddress: advertise, snapshotIntervalEntries: interval)
    }

    private static func readPlugins(
        _ root: inout BlockReader, into config: inout ServerConfig, warnings: inout [ConfigWarning]
    ) throws(ConfigError) {
        let plugins = try CommonConfigReader.plugins(
            &root, implemented: ["KeyManager", "NodeAttestor", "UpstreamAuthority"],
            spireTypes: spireServerPluginTypes, warnings: &warnings)
        var keyManagers = 0
        var upstreams = 0
        for var plugin in plugins {
            switch (plugin.type, plugin.name) {
            case ("KeyManager", "memory"):
                config.keyManager = .memory
                keyManagers += 1
            case ("KeyManager", "disk"):
                guard let path = try plugin.data.string("keys_path"), !path.isEmpty else {
                    throw ConfigError("KeyManager \"disk\": plugin_data.keys_path is required", at: plugin.location)
                }
                config.keyManager = .disk(keysPath: path)
                keyManagers += 1
            case ("NodeAttestor", "join_token"):
                config.nodeAttestors.append(.joinToken)
            case ("NodeAttestor", "x509pop"):
                var paths = try plugin.data.stringList("ca_bundle_paths") ?? []
                if let single = try plugin.data.string("ca_bundle_path") { paths.insert(single, at: 0) }
                guard !paths.isEmpty else {
                    throw ConfigError("NodeAttestor \"x509pop\": plugin_data.ca_bundle_path is required", at: plugin.location)
                }
                config.nodeAttestors.append(.x509pop(caBundlePaths: paths))
            case ("UpstreamAuthority", "disk"):
                guard let cert = try plugin.data.string("cert_file_path"), let key = try plugin.data.string("key_file_path")
                else {
                    throw ConfigError("UpstreamAuthority \"disk\": plugin_data.cert_file_path and key_file_path are required",
                                      at: plugin.location)
                }
                config.upstreamAuthority = UpstreamAuthority(
                    certFilePath: cert, keyFilePath: key, bundleFilePath: try plugin.data.string("bundle_file_path"))
                upstreams += 1
            default:
                let supported = ["KeyManager": ["disk", "memory"], "NodeAttestor": ["join_token", "x509pop"],
                                 "UpstreamAuthority": ["disk"]][plugin.type] ?? []
                CommonConfigReader.unsupportedPlugin(plugin, supported: supported, warnings: &warnings)
                continue
            }
            // SPIRE's x509pop options Lineage does not act on; its own bounds are fixed (a chain
            // of the leaf plus 4 intermediates, RSA up to 4096 bits: docs/server.md).
            let spireData: Set<String> = plugin.name == "x509pop"
                ? ["mode", "agent_path_template", "svid_prefix", "max_intermediates", "max_rsa_key_size", "verify_client_ip"] : []
            try plugin.data.finish(spireKeys: spireData, warnings: &warnings)
        }
        if keyManagers > 1 { throw ConfigError("only one KeyManager may be configured", at: root.location) }
        if keyManagers == 0 {
            throw ConfigError("a KeyManager plugin is required: KeyManager \"disk\" or \"memory\"", at: root.location)
        }
        if upstreams > 1 { throw ConfigError("only one UpstreamAuthority may be configured", at: root.location) }
    }

    private static func keyType(_ reader: inout BlockReader, _ key: String) throws(ConfigError) -> KeyType? {
        try reader.choice(key, from: KeyType.allCases.map(\.rawValue)).flatMap(KeyType.init(rawValue:))
    }

    private static func spiffeIDs(_ reader: inout BlockReader, _ key: String) throws(ConfigError) -> [SPIFFEID] {
        let location = reader.object.items.first { $0.name == key }?.value.location ?? reader.location
        var ids: [SPIFFEID] = []
        for text in try reader.stringList(key) ?? [] {
            do {
                ids.append(try SPIFFEID(parsing: text))
            } catch {
                throw ConfigError("\"\(reader.qualified(key))\": \(error)", at: location)
            }
        }
        return ids
    }

    /// SPIRE refuses SVID TTLs that the CA cannot outlive; so do we, at load time.
    private static func validateDurations(_ config: ServerConfig, at location: SourceLocation) throws(ConfigError) {
        let positive: [(String, Duration?)] = [
            ("ca_ttl", config.caTTL), ("default_x509_svid_ttl", config.defaultX509SVIDTTL),
            ("default_jwt_svid_ttl", config.defaultJWTSVIDTTL), ("agent_ttl", config.agentTTL),
        ]
        for case (let name, let duration?) in positive where duration <= .zero {
            throw ConfigError("\"server.\(name)\" must be positive", at: location)
        }
        if config.defaultX509SVIDTTL >= config.caTTL || config.defaultJWTSVIDTTL >= config.caTTL {
            throw ConfigError(
                "\"server.ca_ttl\" (\(GoDuration.format(config.caTTL))) must be longer than the default SVID TTLs", at: location)
        }
    }
}
