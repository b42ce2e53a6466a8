import Config
import SPIFFE
import Testing

/// SPIRE's own sample files (conf/server/server.conf, conf/agent/agent.conf) must load unchanged,
/// with warnings only for what Lineage does not implement.
@Suite("SPIRE configuration layout")
struct ConfigTests {
    static let spireServerConf = """
        server {
            bind_address = "127.0.0.1"
            bind_port = "8081"
            socket_path = "/tmp/spire-server/private/api.sock"
            trust_domain = "example.org"
            data_dir = "./.data"
            log_level = "DEBUG"
        }

        plugins {
            DataStore "sql" {
                plugin_data {
                    database_type = "sqlite3"
                    connection_string = "./.data/datastore.sqlite3"
                }
            }

            NodeAttestor "join_token" {
                plugin_data {
                }
            }

            KeyManager "memory" {
                plugin_data = {}
            }

            UpstreamAuthority "disk" {
                plugin_data {
                    key_file_path = "./conf/server/dummy_upstream_ca.key"
                    cert_file_path = "./conf/server/dummy_upstream_ca.crt"
                }
            }
        }
        """

    static let spireAgentConf = """
        agent {
            data_dir = "./.data"
            log_level = "DEBUG"
            server_address = "127.0.0.1"
            server_port = "8081"
            socket_path ="/tmp/spire-agent/public/api.sock"
            trust_bundle_path = "./conf/agent/dummy_root_ca.crt"
            trust_domain = "example.org"
        }

        plugins {
            NodeAttestor "join_token" {
                plugin_data {
                }
            }
            KeyManager "disk" {
                plugin_data {
                    directory = "./.data"
                }
            }
            WorkloadAttestor "unix" {
                plugin_data {
                }
            }
        }
        """

    @Test("log_file is read; SPIRE 1.14's x509pop bounds are warnings naming the key, not errors")
    func logFileAndX509PoPOptions() throws {
        let config = try ServerConfig.parse("""
            server {
                trust_domain = "example.org"
                log_file = "/var/log/lineage/server.log"
            }
            plugins {
                KeyManager "memory" { plugin_data {} }
                NodeAttestor "x509pop" {
                    plugin_data {
                        ca_bundle_path = "/ca.pem"
                        max_intermediates = 2
                        max_rsa_key_size = 4096
                        verify_client_ip = true
                    }
                }
            }
            """, file: "s.conf")
        #expect(config.logFile == "/var/log/lineage/server.log")
        #expect(config.warnings.map(\.message).filter { $0.contains("max_intermediates") || $0.contains("max_rsa_key_size")
            || $0.contains("verify_client_ip") }.count == 3, "\(config.warnings)")
        let agent = try AgentConfig.parse("""
            agent {
                trust_domain = "example.org"
                server_address = "127.0.0.1"
                insecure_bootstrap = true
                log_file = "/var/log/lineage/agent.log"
            }
            plugins {
                NodeAttestor "join_token" { plugin_data {} }
                KeyManager "memory" { plugin_data {} }
                WorkloadAttestor "unix" { plugin_data {} }
            }
            """, file: "a.conf")
        #expect(agent.logFile == "/var/log/lineage/agent.log")
        #expect(agent.warnings.isEmpty)
    }

    @Test("SPIRE's sample server.conf loads; DataStore \"sql\" is a warning")
    func spireServerSample() throws {
        let config = try ServerConfig.parse(Self.spireServerConf, file: "server.conf")
        #expect(config.trustDomain == (try TrustDomain("example.org")))
        #expect(config.bindAddress == "127.0.0.1")
        #expect(config.bindPort == 8081)
        #expect(config.socketPath == "/tmp/spire-server/private/api.sock")
        #expect(config.dataDir == "./.data")
        #expect(config.logLevel == .debug)
        #expect(config.keyManager == .memory)
        #expect(config.nodeAttestors == [.joinToken])
        #expect(config.upstreamAuthority?.certFilePath == "./conf/server/dummy_upstream_ca.crt")
        #expect(config.warnings.count == 1)
        #expect(config.warnings[0].location.line == 11)
        #expect(config.warnings[0].message.contains("DataStore"))
        #expect(config.caTTL == .seconds(86400))
        #expect(config.defaultX509SVIDTTL == .seconds(3600))
        #expect(config.defaultJWTSVIDTTL == .seconds(300))
        #expect(config.caSubject.country == ["US"] && config.caSubject.organization == ["SPIFFE"])
    }

    @Test("SPIRE's sample agent.conf loads")
    func spireAgentSample() throws {
        let config = try AgentConfig.parse(Self.spireAgentConf, file: "agent.conf")
        #expect(config.serverAddress == "127.0.0.1" && config.serverPort == 8081)
        #expect(config.trustBundlePath == "./conf/agent/dummy_root_ca.crt")
        #expect(config.keyManager == .disk(directory: "./.data"))
        #expect(config.nodeAttestor == .joinToken)
        #expect(config.unixWorkloadAttestor == AgentConfig.UnixWorkloadAttestor())
        #expect(config.sds.defaultSVIDName == "default" && config.sds.defaultBundleName == "ROOTCA")
        #expect(config.sds.defaultAllBundlesName == "ALL")
        #expect(config.warnings.isEmpty)
    }

    @Test("every documented server key is read with SPIRE's value types")
    func fullServer() throws {
        let text = """
            # comment
            server {
                bind_address = "0.0.0.0"
                bind_port = 9081          // a number works as well as a string
                trust_domain = "td.test"
                ca_ttl = "72h"
                default_x509_svid_ttl = "6h"
                default_jwt_svid_ttl = "5m"
                agent_ttl = "1h30m"
                ca_key_type = "ec-p384"
                jwt_key_type = "rsa-2048"
                ca_subject { country = ["NL"], organization = ["Acme"], common_name = "ca" }
                jwt_issuer = "https://issuer.test"
                admin_ids = ["spiffe://td.test/admin"]
                log_format = "json"
                ratelimit { attestation = false signing = "true" }
                cluster {
                    node_name = "s1"
                    peers = ["s2=127.0.0.1:9082", "s3=127.0.0.1:9083",]
                    snapshot_interval_entries = 5000
                }
                /* a block
                   comment */
            }
            plugins {
                KeyManager "disk" { plugin_data { keys_path = "/var/keys.json" } }
                NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "/ca.pem" } }
                NodeAttestor "join_token" { plugin_data {} }
                UpstreamAuthority "disk" { plugin_data { cert_file_path = "/up.pem" key_file_path = "/up.key" } }
            }
            telemetry { Prometheus { host = "127.0.0.1" port = 9988 } }
            health_checks {
                listener_enabled = true
                bind_address = "127.0.0.1"
                bind_port = "8080"
                live_path = "/live"
                ready_path = "/ready"
            }
            """
        let config = try ServerConfig.parse(text, file: "s.conf")
        #expect(config.bindPort == 9081)
        #expect(config.caTTL == .seconds(72 * 3600))
        #expect(config.defaultX509SVIDTTL == .seconds(6 * 3600))
        #expect(config.agentTTL == .seconds(5400))
        #expect(config.caKeyType == .ecP384 && config.jwtKeyType == .rsa2048)
        #expect(config.caSubject == ServerConfig.CASubject(country: ["NL"], organization: ["Acme"], commonName: "ca"))
        #expect(config.adminIDs == [try SPIFFEID(parsing: "spiffe://td.test/admin")])
        #expect(config.logFormat == .json)
        #expect(config.rateLimit == ServerConfig.RateLimit(attestation: false, signing: true))
        #expect(config.cluster?.nodeName == "s1")
        #expect(config.cluster?.peers.map(\.name) == ["s2", "s3"])
        #expect(config.cluster?.peers.last?.address == "127.0.0.1:9083")
        #expect(config.cluster?.join == false && config.cluster?.advertiseAddress == nil)
        #expect(config.cluster?.snapshotIntervalEntries == 5000)
        #expect(config.keyManager == .disk(keysPath: "/var/keys.json"))
        #expect(config.nodeAttestors == [.x509pop(caBundlePaths: ["/ca.pem"]), .joinToken])
        #expect(config.telemetry == TelemetryConfig(prometheusHost: "127.0.0.1", prometheusPort: 9988))
        #expect(config.healthChecks.listenerEnabled && config.healthChecks.bindPort == 8080)
        #expect(config.warnings.isEmpty)
    }

    @Test("a joining member: join = true, no peers, an advertised address")
    func joinMode() throws {
        let text = """
            server {
                trust_domain = "td"
                cluster {
                    node_name = "s4"
                    join = true
                    advertise_address = "10.0.0.4:8081"
                }
            }
            plugins {
                KeyManager "memory" {}
                UpstreamAuthority "disk" { plugin_data { cert_file_path = "/u.pem" key_file_path = "/u.key" } }
            }
            """
        let config = try ServerConfig.parse(text, file: "s4.conf")
        #expect(config.cluster?.nodeName == "s4" && config.cluster?.peers == [])
        #expect(config.cluster?.join == true && config.cluster?.advertiseAddress == "10.0.0.4:8081")
    }

    static let errors: [(String, String, Int)] = [
        // (config, expected message fragment, line)
        ("server {\n  trust_domain = \"td\"\n  bogus = 1\n}\nplugins { KeyManager \"memory\" {} }", "unknown key \"server.bogus\"", 3),
        ("server {\n  trust_domain = \"td\"\n  bind_port = \"eighty\"\n}", "must be an integer", 3),
        ("server {\n  trust_domain = \"td\"\n  bind_port = 70000\n}", "between 0 and 65535", 3),
        ("server {\n  trust_domain = \"TD\"\n}", "trust domain", 2),
        ("server {\n  trust_domain = \"td\"\n  ca_ttl = \"24 hours\"\n}", "unknown unit", 3),
        ("server {\n  trust_domain = \"td\"\n  ca_key_type = \"dsa\"\n}", "must be one of", 3),
        ("server {\n  trust_domain = \"td\"\n  log_level = \"LOUD\"\n}", "DEBUG, INFO, WARN or ERROR", 3),
        ("server {\n  trust_domain = \"td\"\n  trust_domain = \"td2\"\n}", "more than once", 3),
        ("server {\n  trust_domain = \"td\"\n  admin_ids = [\"spiffe://td/a/\"]\n}", "trailing slash", 3),
        ("server {\n  trust_domain = \"td\"\n  admin_ids = [1]\n}", "list of strings", 3),
        ("server {\n  trust_domain = \"td\"\n", "missing \"}\"", 3),
        ("server {\n  trust_domain = td\n}", "strings must be quoted", 2),
        ("server {\n  trust_domain = \"td\n}", "newline in string", 2),
        ("server {\n  trust_domain = \"td\"\n}\nplugins {\n  Frobnicator \"x\" {}\n  KeyManager \"memory\" {}\n}", "unknown key \"plugins.Frobnicator\"", 5),
        ("server {\n  trust_domain = \"td\"\n}\nplugins {\n  KeyManager \"memory\" {\n    plugin_cmd = \"/bin/x\"\n  }\n}", "external plugins", 5),
        ("server {\n  trust_domain = \"td\"\n}\nplugins {\n  KeyManager \"disk\" {}\n}", "keys_path is required", 5),
        ("server {\n  trust_domain = \"td\"\n}", "a KeyManager plugin is required", 1),
        ("server {\n  trust_domain = \"td\"\n  cluster { node_name = \"a\"\n peers = [\"b\"] }\n}", "name=host:port", 4),
        ("server {\n  trust_domain = \"td\"\n  cluster { node_name = \"a\"\n peers = [\"b=h:1\"] }\n}\nplugins { KeyManager \"memory\" {} }",
         "requires an UpstreamAuthority", 3),
        ("server {\n  trust_domain = \"td\"\n  cluster { node_name = \"a\"\n join = true\n peers = [\"b=h:1\"] }\n}", "takes no \"peers\"", 5),
        ("server {\n  trust_domain = \"td\"\n  cluster { node_name = \"a\"\n join = true\n advertise_address = \"h\" }\n}", "advertise_address", 5),
        ("server {\n  trust_domain = \"td\"\n  cluster { node_name = \"a\"\n peers = [\"b=h:1\"]\n snapshot_interval_entries = 0 }\n}",
         "between 10 and 100000000", 5),
        ("server {\n  trust_domain = \"td\"\n  ca_ttl = \"1h\"\n}\nplugins { KeyManager \"memory\" {} }", "must be longer than", 1),
        ("bogus {}", "block is required", 1),
    ]

    @Test("errors name the problem and its line", arguments: errors)
    func errorsCarryLines(text: String, fragment: String, line: Int) {
        do {
            _ = try ServerConfig.parse(text, file: "bad.conf")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.message.contains(fragment), "\(error)")
            #expect(error.location.hasPrefix("bad.conf:\(line):"), "\(error)")
        }
    }

    @Test("SPIRE keys Lineage lacks are warnings with their line; the rest still loads")
    func warningsForSPIREKeys() throws {
        let text = """
            server {
              trust_domain = "td"
              audit_log_enabled = true
              federation { bundle_endpoint { address = "0.0.0.0" } }
            }
            plugins {
              KeyManager "memory" {}
              NodeAttestor "aws_iid" { plugin_data {} }
              Notifier "k8sbundle" {}
            }
            telemetry { DogStatsd = [] }
            """
        let config = try ServerConfig.parse(text, file: "w.conf")
        let lines = config.warnings.map(\.location.line).sorted()
        #expect(lines == [3, 4, 8, 9, 11], "\(config.warnings)")
        #expect(config.nodeAttestors.isEmpty)
    }

    @Test("flags override the file; -expandEnv expands $VAR and ${VAR}")
    func overridesAndEnvironment() throws {
        let text = """
            server {
              trust_domain = "${TD}"
              data_dir = "$DATA/dir"
              bind_port = "${MISSING}8081"
            }
            plugins { KeyManager "memory" {} }
            """
        let expanded = try ServerConfig.parse(text, file: "e.conf", environment: ["TD": "env.test", "DATA": "/var"])
        #expect(expanded.trustDomain.name == "env.test")
        #expect(expanded.dataDir == "/var/dir")
        #expect(expanded.bindPort == 8081)
        let overridden = try ServerConfig.parse(
            text, file: "e.conf", environment: ["TD": "env.test"],
            overrides: .init(trustDomain: "flag.test", dataDir: "/flag"))
        #expect(overridden.trustDomain.name == "flag.test" && overridden.dataDir == "/flag")
        #expect(throws: ConfigError.self) {
            try ServerConfig.parse(text, file: "e.conf", environment: [:], overrides: .init(trustDomain: "Bad"))
        }
        // Without -expandEnv the text is taken literally, and "${TD}" is not a trust domain.
        #expect(throws: ConfigError.self) { try ServerConfig.parse(text, file: "e.conf") }
    }

    @Test("agent: bootstrap needs exactly one trust source; plugins are checked")
    func agentRules() throws {
        func agent(_ extra: String) throws -> AgentConfig {
            let text = "agent {\n trust_domain = \"td\"\n server_address = \"127.0.0.1\"\n " + extra
                + "\n}\nplugins {\n NodeAttestor \"join_token\" {}\n KeyManager \"memory\" {}\n}"
            return try AgentConfig.parse(text, file: "a.conf")
        }
        #expect(try agent("insecure_bootstrap = true").insecureBootstrap)
        #expect(throws: ConfigError.self) { try agent("") }
        #expect(throws: ConfigError.self) { try agent("insecure_bootstrap = true\n trust_bundle_path = \"/b\"") }
        let sds = try agent("insecure_bootstrap = true\n sds { default_bundle_name = \"null\"\n default_all_bundles_name = \"ROOTCA\" }")
        #expect(sds.sds.defaultBundleName == "null" && sds.sds.defaultAllBundlesName == "ROOTCA")
        let warned = try agent("insecure_bootstrap = true\n allowed_foreign_jwt_claims = []")
        #expect(warned.warnings.count == 1 && warned.warnings[0].location.line == 5)
        #expect(throws: ConfigError.self) { try agent("insecure_bootstrap = true\n nonsense = 1") }
        let url = try agent("trust_bundle_url = \"https://bundle.example/b.json\"\n trust_bundle_format = \"spiffe\"")
        #expect(url.trustBundleURL == "https://bundle.example/b.json" && url.trustBundleFormat == .spiffe)
        // Plain HTTP is refused where it is written (SPIRE allows it only over trust_bundle_unix_socket).
        var httpError = ""
        do { _ = try agent("trust_bundle_url = \"http://bundle.example/b.pem\"") } catch { httpError = "\(error)" }
        #expect(httpError.hasPrefix("a.conf:4:") && httpError.contains("must start with https://"), "\(httpError)")
        let x509pop = try AgentConfig.parse("""
            agent { trust_domain = "td" server_address = "s" insecure_bootstrap = true }
            plugins {
              NodeAttestor "x509pop" { plugin_data { private_key_path = "k" certificate_path = "c" } }
              KeyManager "memory" {}
              WorkloadAttestor "unix" { plugin_data { discover_workload_path = true workload_size_limit = -1 } }
            }
            """, file: "x.conf")
        #expect(x509pop.nodeAttestor == .x509pop(privateKeyPath: "k", certificatePath: "c", intermediatesPath: nil))
        #expect(x509pop.unixWorkloadAttestor?.discoverWorkloadPath == true)
        #expect(x509pop.unixWorkloadAttestor?.workloadSizeLimit == -1)
        #expect(throws: ConfigError.self) {
            try AgentConfig.parse("agent { trust_domain = \"td\" server_address = \"s\" insecure_bootstrap = true }\nplugins { KeyManager \"memory\" {} }", file: "n.conf")
        }
    }
}

@Suite("HCL syntax and durations")
struct HCLTests {
    @Test("heredocs, escapes, labels, lists of blocks and nesting")
    func syntax() throws {
        let object = try HCLParser.parse("""
            a = <<EOF
            line one
              line two
            EOF
            b = "tab\\tquote\\"\\u00e9"
            c "x" "y" { d = [1, -2.5, true, { e = "f" }] }
            """, file: "t.hcl")
        #expect(object.items.map(\.name) == ["a", "b", "c"])
        #expect(object.items[0].value.value == .string("line one\n  line two\n"))
        #expect(object.items[1].value.value == .string("tab\tquote\"é"))
        #expect(object.items[2].labels == ["x", "y"])
        #expect(object.items[2].location.line == 6)
    }

    @Test("nesting and size are bounded")
    func bounds() {
        let deep = String(repeating: "a { ", count: 40) + String(repeating: "}", count: 40)
        #expect(throws: ConfigError.self) { try HCLParser.parse(deep, file: "d") }
        let big = "a = \"" + String(repeating: "x", count: 300 * 1024) + "\""
        #expect(throws: ConfigError.self) { try HCLParser.parse(big, file: "b") }
    }

    static let durations: [(String, Int64)] = [
        ("1h", 3_600_000), ("1h30m", 5_400_000), ("300ms", 300), ("1.5s", 1500), ("0", 0), ("72h", 259_200_000),
        ("2m3s", 123_000),
    ]

    @Test("Go duration syntax", arguments: durations)
    func goDurations(text: String, milliseconds: Int64) throws {
        #expect(try GoDuration.parse(text) == .milliseconds(milliseconds))
    }

    @Test("bad durations are rejected", arguments: ["", "h", "1", "1d", "1h 30m", "abc", ".s", "1e3s"])
    func badDurations(text: String) {
        #expect(throws: GoDuration.ParseError.self) { try GoDuration.parse(text) }
    }

    @Test("duration formatting") func formatting() {
        #expect(GoDuration.format(.seconds(5400)) == "1h30m0s")
        #expect(GoDuration.format(.seconds(45)) == "45s")
    }
}
