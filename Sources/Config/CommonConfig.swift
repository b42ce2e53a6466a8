/// Settings and readers shared by the server and agent configurations.

public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, warn, error

    /// SPIRE (logrus) accepts any case and `warning` as well as `warn`.
    init?(spire text: String) {
        let lowered = text.lowercased()
        self.init(rawValue: lowered == "warning" ? "warn" : lowered)
    }
}

public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// `telemetry { Prometheus { host port } }`: where `/metrics` is served, if anywhere.
public struct TelemetryConfig: Sendable, Equatable {
    public var prometheusHost: String?
    public var prometheusPort: UInt16?

    public init(prometheusHost: String? = nil, prometheusPort: UInt16? = nil) {
        self.prometheusHost = prometheusHost
        self.prometheusPort = prometheusPort
    }
}

/// `health_checks { … }`: SPIRE's HTTP liveness and readiness listener.
public struct HealthChecksConfig: Sendable, Equatable {
    public var listenerEnabled = false
    public var bindAddress = "localhost"
    public var bindPort: UInt16 = 80
    public var livePath = "/live"
    public var readyPath = "/ready"

    public init() {}
}

/// One `Type "name" { plugin_data { … } }` block, already checked for the keys every plugin
/// block may carry.
struct PluginBlock {
    let type: String
    let name: String
    let location: SourceLocation
    /// The `plugin_data` block (an empty one when absent).
    var data: BlockReader
}

/// What every configuration file has besides its main block.
protocol CommonSettings {
    var telemetry: TelemetryConfig { get set }
    var healthChecks: HealthChecksConfig { get set }
    var warnings: [ConfigWarning] { get set }
}

enum CommonConfigReader {
    /// The shape both files share: expand the environment (`-expandEnv`), parse, read the main
    /// block (`server` or `agent`) and the plugins with `read`, then the common blocks, and
    /// reject any other top-level key.
    static func parse<Settings: CommonSettings>(
        _ text: String, file: String, environment: [String: String]?, mainBlock: String,
        read: (_ main: inout BlockReader, _ root: inout BlockReader, _ warnings: inout [ConfigWarning]) throws(ConfigError) -> Settings
    ) throws(ConfigError) -> Settings {
        let source = environment.map { expandEnvironment(text, environment: $0) } ?? text
        let syntax = try HCLParser.parse(source, file: file)
        var root = BlockReader(syntax, path: "", location: SourceLocation(file: file, line: 1, column: 1))
        var warnings: [ConfigWarning] = []
        guard var main = try root.block(mainBlock) else {
            throw ConfigError("a \"\(mainBlock) { … }\" block is required", at: root.location)
        }
        var settings = try read(&main, &root, &warnings)
        settings.telemetry = try telemetry(&root, warnings: &warnings)
        settings.healthChecks = try healthChecks(&root, warnings: &warnings)
        try root.finish(warnings: &warnings)
        settings.warnings = warnings
        return settings
    }

    static let spireTelemetryKeys: Set<String> = [
        "DogStatsd", "Statsd", "M3", "InMem", "MetricPrefix", "EnableTrustDomainLabel", "EnableHostnameLabel",
        "AllowedPrefixes", "BlockedPrefixes", "AllowedLabels", "BlockedLabels",
    ]

    /// `log_level` from the file, overridden by the `-logLevel` flag when one was given.
    static func logLevel(_ reader: inout BlockReader, flag: String?) throws(ConfigError) -> LogLevel? {
        let fileValue = try reader.string("log_level")
        if let flag {
            guard let level = LogLevel(spire: flag) else {
                throw ConfigError("must be DEBUG, INFO, WARN or ERROR, got \"\(flag)\"", where: "-logLevel")
            }
            return level
        }
        guard let text = fileValue else { return nil }
        guard let level = LogLevel(spire: text) else {
            let location = reader.object.items.first { $0.name == "log_level" }?.value.location ?? reader.location
            throw ConfigError("\"\(reader.qualified("log_level"))\" must be DEBUG, INFO, WARN or ERROR, got \"\(text)\"",
                              at: location)
        }
        return level
    }

    static func logFormat(_ reader: inout BlockReader) throws(ConfigError) -> LogFormat? {
        guard let text = try reader.string("log_format") else { return nil }
        guard let format = LogFormat(rawValue: text.lowercased()) else {
            let location = reader.object.items.first { $0.name == "log_format" }?.value.location ?? reader.location
            throw ConfigError("\"\(reader.qualified("log_format"))\" must be text or json, got \"\(text)\"", at: location)
        }
        return format
    }

    static func telemetry(_ root: inout BlockReader, warnings: inout [ConfigWarning]) throws(ConfigError) -> TelemetryConfig {
        var config = TelemetryConfig()
        guard var telemetry = try root.block("telemetry") else { return config }
        if var prometheus = try telemetry.block("Prometheus") {
            config.prometheusHost = try prometheus.string("host") ?? "localhost"
            config.prometheusPort = try prometheus.port("port")
            if config.prometheusPort == nil {
                throw ConfigError("\"telemetry.Prometheus.port\" is required", at: prometheus.location)
            }
            try prometheus.finish(spireKeys: ["tls"], warnings: &warnings)
        }
        try telemetry.finish(spireKeys: spireTelemetryKeys, warnings: &warnings)
        return config
    }

    static func healthChecks(_ root: inout BlockReader, warnings: inout [ConfigWarning]) throws(ConfigError) -> HealthChecksConfig {
        var config = HealthChecksConfig()
        guard var block = try root.block("health_checks") else { return config }
        config.listenerEnabled = try block.bool("listener_enabled") ?? config.listenerEnabled
        config.bindAddress = try block.string("bind_address") ?? config.bindAddress
        config.bindPort = try block.port("bind_port") ?? config.bindPort
        config.livePath = try block.string("live_path") ?? config.livePath
        config.readyPath = try block.string("ready_path") ?? config.readyPath
        try block.finish(warnings: &warnings)
        return config
    }

    /// Reads `plugins { … }`: each plugin type listed in `implemented` is returned; a plugin type
    /// SPIRE defines but Lineage lacks (a `DataStore "sql"` among them) is a warning; any other
    /// type is an error. Disabled plugins (`enabled = false`) are skipped.
    static func plugins(
        _ root: inout BlockReader, implemented: Set<String>, spireTypes: Set<String>,
        warnings: inout [ConfigWarning]
    ) throws(ConfigError) -> [PluginBlock] {
        guard var plugins = try root.block("plugins") else { return [] }
        var result: [PluginBlock] = []
        for type in implemented.sorted() {
            for (name, reader, location) in try plugins.labeledBlocks(type) {
                var block = reader
                if try block.bool("enabled") == false { continue }
                if try block.string("plugin_cmd") != nil {
                    throw ConfigError("\(type) \"\(name)\": external plugins (plugin_cmd) are not supported; use a built-in plugin",
                                      at: location)
                }
                if try block.string("plugin_data_file") != nil {
                    throw ConfigError("\(type) \"\(name)\": plugin_data_file is not supported; put the settings in plugin_data",
                                      at: location)
                }
                let data = try block.block("plugin_data")
                    ?? BlockReader(HCLObject(items: []), path: "\(type) \"\(name)\".plugin_data", location: location)
                try block.finish(spireKeys: ["plugin_checksum"], warnings: &warnings)
                result.append(PluginBlock(type: type, name: name, location: location, data: data))
            }
        }
        try plugins.finish(spireKeys: spireTypes, warnings: &warnings)
        return result.sorted { ($0.location.line, $0.location.column) < ($1.location.line, $1.location.column) }
    }

    static func unsupportedPlugin(_ plugin: PluginBlock, supported: [String], warnings: inout [ConfigWarning]) {
        warnings.append(ConfigWarning(
            location: plugin.location,
            message: "\(plugin.type) \"\(plugin.name)\" is a SPIRE plugin that Lineage does not implement "
                + "(built in: \(supported.joined(separator: ", "))); it is ignored"))
    }
}

/// A command-line flag wins over the file's value. (A function rather than `??` because an
/// autoclosure on the right of `??` would erase the file reader's typed error.)
func flagOrFile<Value>(_ flag: Value?, _ file: Value?) -> Value? { flag ?? file }

/// `-expandEnv`: replaces `$NAME` and `${NAME}` with the environment's values (an unset variable
/// becomes the empty string), as Go's `os.ExpandEnv` does for SPIRE.
public func expandEnvironment(_ text: String, environment: [String: String]) -> String {
    var output = ""
    var index = text.startIndex
    while index < text.endIndex {
        let character = text[index]
        guard character == "$" else {
            output.append(character)
            index = text.index(after: index)
            continue
        }
        let nameStart = text.index(after: index)
        if nameStart < text.endIndex, text[nameStart] == "{",
            let close = text[nameStart...].firstIndex(of: "}")
        {
            let name = String(text[text.index(after: nameStart)..<close])
            output += environment[name] ?? ""
            index = text.index(after: close)
            continue
        }
        let name = text[nameStart...].prefix { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        if name.isEmpty {
            output.append(character)
            index = nameStart
        } else {
            output += environment[String(name)] ?? ""
            index = name.endIndex
        }
    }
    return output
}
