import SPIFFE

/// `lineage-agent run -config agent.conf`: SPIRE's agent configuration layout, typed.
public struct AgentConfig: Sendable, Equatable, CommonSettings {
    public enum TrustBundleFormat: String, Sendable, CaseIterable {
        case pem, spiffe
    }

    /// `agent { sds { … } }`: the SDS resource names Envoy asks for (SPIFFE-WIRE §3.2).
    public struct SDS: Sendable, Equatable {
        public var defaultSVIDName = "default"
        public var defaultBundleName = "ROOTCA"
        public var defaultAllBundlesName = "ALL"
        public var disableSPIFFECertValidation = false

        public init(
            defaultSVIDName: String = "default", defaultBundleName: String = "ROOTCA",
            defaultAllBundlesName: String = "ALL", disableSPIFFECertValidation: Bool = false
        ) {
            self.defaultSVIDName = defaultSVIDName
            self.defaultBundleName = defaultBundleName
            self.defaultAllBundlesName = defaultAllBundlesName
            self.disableSPIFFECertValidation = disableSPIFFECertValidation
        }
    }

    public enum NodeAttestor: Sendable, Equatable {
        case joinToken
        case x509pop(privateKeyPath: String, certificatePath: String, intermediatesPath: String?)
    }

    public enum KeyManager: Sendable, Equatable {
        case memory
        /// The agent SVID and its key kept in `directory` (0700, files 0600).
        case disk(directory: String)
    }

    /// `WorkloadAttestor "unix"`: SPIRE's options.
    public struct UnixWorkloadAttestor: Sendable, Equatable {
        public var discoverWorkloadPath = false
        /// Bytes hashed at most for `unix:sha256`; 0 means no limit, negative disables hashing.
        public var workloadSizeLimit = 0

        public init(discoverWorkloadPath: Bool = false, workloadSizeLimit: Int = 0) {
            self.discoverWorkloadPath = discoverWorkloadPath
            self.workloadSizeLimit = workloadSizeLimit
        }
    }

    public var trustDomain: TrustDomain
    /// One or more `host:port` (comma-separated), or a host completed with `serverPort`.
    public var serverAddress: String
    public var serverPort: UInt16 = 8081
    /// `serverAddress` parsed and checked: the servers the agent may talk to, in order.
    public var serverAddresses: [ServerAddress] = []
    public var socketPath = "/tmp/lineage-agent/public/api.sock"
    public var dataDir = ".data"
    public var logLevel = LogLevel.info
    public var logFormat = LogFormat.text
    /// SPIRE's `log_file`: log lines go to this file (appended) instead of standard error.
    public var logFile: String?
    public var trustBundlePath: String?
    public var trustBundleURL: String?
    public var trustBundleFormat = TrustBundleFormat.pem
    public var insecureBootstrap = false
    public var joinToken: String?
    public var sds = SDS()
    public var nodeAttestor = NodeAttestor.joinToken
    public var keyManager = KeyManager.memory
    public var unixWorkloadAttestor: UnixWorkloadAttestor?
    public var telemetry = TelemetryConfig()
    public var healthChecks = HealthChecksConfig()
    public var warnings: [ConfigWarning] = []

    public struct Overrides: Sendable {
        public var trustDomain: String?
        public var dataDir: String?
        public var serverAddress: String?
        public var serverPort: UInt16?
        public var socketPath: String?
        public var joinToken: String?
        public var trustBundlePath: String?
        public var logLevel: String?

        public init(trustDomain: String? = nil, dataDir: String? = nil, serverAddress: String? = nil,
                    serverPort: UInt16? = nil, socketPath: String? = nil, joinToken: String? = nil,
                    trustBundlePath: String? = nil, logLevel: String? = nil) {
            self.trustDomain = trustDomain
            self.dataDir = dataDir
            self.serverAddress = serverAddress
            self.serverPort = serverPort
            self.socketPath = socketPath
            self.joinToken = joinToken
            self.trustBundlePath = trustBundlePath
            self.logLevel = logLevel
        }
    }

    static let spireAgentKeys: Set<String> = [
        "admin_socket_path", "rebootstrap_mode", "rebootstrap_delay", "join_token_file", "log_selectors",
        "log_source_location", "disable_workload_api", "disable_sds_api", "workload_x509_svid_key_type",
        "trust_bundle_spiffe_workload_api", "trust_bundle_unix_socket", "allow_unauthenticated_verifiers",
        "allowed_foreign_jwt_claims", "availability_target", "x509_svid_cache_max_size", "jwt_svid_cache_max_size",
        "authorized_delegates", "profiling_enabled", "profiling_port", "profiling_freq", "profiling_names",
        "experimental",
    ]
    static let spireAgentPluginTypes: Set<String> = ["SVIDStore"]

    /// Parses a configuration file's text. With `environment`, `$VAR`/`${VAR}` are expanded
    /// first (`-expandEnv`).
    public static func parse(
        _ text: String, file: String, environment: [String: String]? = nil, overrides: Overrides = Overrides()
    ) throws(ConfigError) -> AgentConfig {
        try CommonConfigReader.parse(text, file: file, environment: environment, mainBlock: "agent") {
            (main, root, warnings) throws(ConfigError) in
            var config = try readAgent(&main, overrides: overrides, warnings: &warnings)
            try readPlugins(&root, into: &config, warnings: &warnings)
            return config
        }
    }

    private init(trustDomain: TrustDomain, serverAddress: String) {
        self.trustDomain = trustDomain
        self.serverAddress = serverAddress
    }

    private static func readAgent(
        _ agent: inout BlockReader, overrides: Overrides, warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> AgentConfig {
        let tdLocation = agent.object.items.first { $0.name == "trust_domain" }?.value.location ?? agent.location
        guard let tdText = flagOrFile(overrides.trustDomain, try agent.string("trust_domain")) else {
            throw ConfigError("\"agent.trust_domain\" is required", at: agent.location)
        }
        let trustDomain: TrustDomain
        do {
            trustDomain = try TrustDomain(parsing: tdText)
        } catch {
            throw ConfigError("trust domain: \(error)",
                              where: overrides.trustDomain != nil ? "-trustDomain" : tdLocation.description)
        }
        guard let serverAddress = flagOrFile(overrides.serverAddress, try agent.string("server_address")),
            !serverAddress.isEmpty
        else {
            throw ConfigError("\"agent.server_address\" is required", at: agent.location)
        }
        var config = AgentConfig(trustDomain: trustDomain, serverAddress: serverAddress)
        config.serverPort = flagOrFile(overrides.serverPort, try agent.port("server_port")) ?? config.serverPort
        do {
            config.serverAddresses = try ServerAddress.parseList(serverAddress, defaultPort: config.serverPort)
        } catch {
            let location = agent.object.items.first { $0.name == "server_address" }?.value.location ?? agent.location
            throw ConfigError("\"agent.server_address\" \(error.message)",
                              where: overrides.serverAddress != nil ? "-serverAddress" : location.description)
        }
        config.socketPath = flagOrFile(overrides.socketPath, try agent.string("socket_path")) ?? config.socketPath
        config.dataDir = flagOrFile(overrides.dataDir, try agent.string("data_dir")) ?? config.dataDir
        config.logLevel = try CommonConfigReader.logLevel(&agent, flag: overrides.logLevel) ?? config.logLevel
        config.logFormat = try CommonConfigReader.logFormat(&agent) ?? config.logFormat
        config.logFile = try agent.string("log_file")
        config.trustBundlePath = flagOrFile(overrides.trustBundlePath, try agent.string("trust_bundle_path"))
        config.trustBundleURL = try agent.string("trust_bundle_url")
        if let url = config.trustBundleURL, !url.lowercased().hasPrefix("https://") {
            // SPIRE allows http:// only through trust_bundle_unix_socket, which is not implemented.
            let location = agent.object.items.first { $0.name == "trust_bundle_url" }?.value.location ?? agent.location
            throw ConfigError("\"agent.trust_bundle_url\" must start with https://", at: location)
        }
        config.trustBundleFormat = try agent.choice("trust_bundle_format", from: ["pem", "spiffe"])
            .flatMap(TrustBundleFormat.init(rawValue:)) ?? config.trustBundleFormat
        config.insecureBootstrap = try agent.bool("insecure_bootstrap") ?? false
        config.joinToken = flagOrFile(overrides.joinToken, try agent.string("join_token"))
        if var sds = try agent.block("sds") {
            config.sds.defaultSVIDName = try sds.string("default_svid_name") ?? config.sds.defaultSVIDName
            config.sds.defaultBundleName = try sds.string("default_bundle_name") ?? config.sds.defaultBundleName
            config.sds.defaultAllBundlesName = try sds.string("default_all_bundles_name") ?? config.sds.defaultAllBundlesName
            config.sds.disableSPIFFECertValidation = try sds.bool("disable_spiffe_cert_validation") ?? false
            try sds.finish(warnings: &warnings)
        }
        // SPIRE's bootstrap rule: exactly one way to trust the server the first time.
        let ways = [config.trustBundlePath != nil, config.trustBundleURL != nil, config.insecureBootstrap].filter { $0 }
        if ways.count != 1 {
            throw ConfigError(
                "set exactly one of \"agent.trust_bundle_path\", \"agent.trust_bundle_url\" or \"agent.insecure_bootstrap = true\"",
                at: agent.location)
        }
        try agent.finish(spireKeys: spireAgentKeys, warnings: &warnings)
        return config
    }

    private static func readPlugins(
        _ root: inout BlockReader, into config: inout AgentConfig, warnings: inout [ConfigWarning]
    ) throws(ConfigError) {
        let plugins = try CommonConfigReader.plugins(
            &root, implemented: ["KeyManager", "NodeAttestor", "WorkloadAttestor"],
            spireTypes: spireAgentPluginTypes, warnings: &warnings)
        var counts: [String: Int] = [:]
        for var plugin in plugins {
            switch (plugin.type, plugin.name) {
            case ("KeyManager", "memory"):
                config.keyManager = .memory
            case ("KeyManager", "disk"):
                guard let directory = try plugin.data.string("directory"), !directory.isEmpty else {
                    throw ConfigError("KeyManager \"disk\": plugin_data.directory is required", at: plugin.location)
                }
                config.keyManager = .disk(directory: directory)
            case ("NodeAttestor", "join_token"):
                config.nodeAttestor = .joinToken
            case ("NodeAttestor", "x509pop"):
                guard let key = try plugin.data.string("private_key_path"),
                    let certificate = try plugin.data.string("certificate_path")
                else {
                    throw ConfigError("NodeAttestor \"x509pop\": plugin_data.private_key_path and certificate_path are required",
                                      at: plugin.location)
                }
                config.nodeAttestor = .x509pop(privateKeyPath: key, certificatePath: certificate,
                                               intermediatesPath: try plugin.data.string("intermediates_path"))
            case ("WorkloadAttestor", "unix"):
                var unix = UnixWorkloadAttestor()
                unix.discoverWorkloadPath = try plugin.data.bool("discover_workload_path") ?? false
                unix.workloadSizeLimit = try plugin.data.int("workload_size_limit", range: Int(Int32.min)...Int(Int32.max)) ?? 0
                config.unixWorkloadAttestor = unix
            default:
                let supported = ["KeyManager": ["disk", "memory"], "NodeAttestor": ["join_token", "x509pop"],
                                 "WorkloadAttestor": ["unix"]][plugin.type] ?? []
                CommonConfigReader.unsupportedPlugin(plugin, supported: supported, warnings: &warnings)
                continue
            }
            counts[plugin.type, default: 0] += 1
            try plugin.data.finish(warnings: &warnings)
        }
        for type in ["KeyManager", "NodeAttestor"] {
            if (counts[type] ?? 0) > 1 { throw ConfigError("only one \(type) may be configured", at: root.location) }
            if (counts[type] ?? 0) == 0 {
                throw ConfigError("a \(type) plugin is required", at: root.location)
            }
        }
    }
}
