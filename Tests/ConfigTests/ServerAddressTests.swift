import Config
import Testing

@Suite("agent server_address lists")
struct ServerAddressTests {
    func parse(_ text: String, port: UInt16 = 8081) throws -> [String] {
        try ServerAddress.parseList(text, defaultPort: port).map(\.description)
    }

    @Test("entries are host, host:port, [v6] or [v6]:port; server_port completes those without one")
    func accepted() throws {
        #expect(try parse("spire.example") == ["spire.example:8081"])
        #expect(try parse("127.0.0.1:1,127.0.0.1:2, 127.0.0.1:3 ") == ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"])
        #expect(try parse("[::1]:9,[fe80::1],s1.example:80,s2", port: 7) == ["[::1]:9", "[fe80::1]:7", "s1.example:80", "s2:7"])
        #expect(try parse("[::ffff:10.0.0.1]:5") == ["[::ffff:10.0.0.1]:5"])
        let kinds = try ServerAddress.parseList("10.1.2.3,[2001:db8::2],spire-server_1.internal.", defaultPort: 1).map(\.host)
        #expect(kinds == [.ipv4("10.1.2.3"), .ipv6("2001:db8::2"), .name("spire-server_1.internal.")])
    }

    @Test("a bad entry is named with its position and what is wrong with it")
    func refused() {
        func message(_ text: String, port: UInt16 = 8081) -> String {
            do {
                _ = try ServerAddress.parseList(text, defaultPort: port)
                return "accepted"
            } catch {
                return error.message
            }
        }
        #expect(message("a:1,,b:2") == "entry 2 is empty (a stray comma?)")
        #expect(message("a:1,b:2,") == "entry 3 is empty (a stray comma?)")
        #expect(message("") == "is empty")
        #expect(message("a:1,b:x") == #"entry 2 ("b:x"): the port "x" is not a number from 1 to 65535"#)
        #expect(message("a:0") == #""a:0": the port "0" is not a number from 1 to 65535"#)
        #expect(message("a:+80") == #""a:+80": the port "+80" is not a number from 1 to 65535"#)
        #expect(message("a:70000").contains("not a number from 1 to 65535"))
        #expect(message("::1:8081") == #""::1:8081": an IPv6 address must be in brackets, as in [::1:8081]:8081"#)
        #expect(message("[::1") == #""[::1": "[" without "]""#)
        #expect(message("[::1]8081") == #""[::1]8081": expected ":port" after "]""#)
        #expect(message("[zz::1]:1") == #""[zz::1]:1": "zz::1" is not an IPv6 address"#)
        #expect(message("[1::2::3]:1").contains("is not an IPv6 address"))
        #expect(message("10.0.0.256:1") == #""10.0.0.256:1": "10.0.0.256" is not an IPv4 address"#)
        #expect(message("10.0.0:1").contains("is not an IPv4 address"))
        #expect(message("a,b c") == #"entry 2 ("b c"): "b c" is not a DNS name: the label "b c" has a character other than letters, digits, "-" and "_""#)
        #expect(message("-a.example").contains("starts or ends with \"-\""))
        #expect(message("a..example").contains("an empty label"))
        #expect(message(":8081") == #"":8081": the host is empty"#)
        #expect(message("https://spire.example:8081") == #""https://spire.example:8081": a server address is host or host:port, without a scheme"#)
        #expect(message("a:1,b:2,a:1") == #"entry 3 ("a:1"): a:1 is listed twice"#)
        #expect(message("a,a:8081") == #"entry 2 ("a:8081"): a:8081 is listed twice"#)
        #expect(message("a", port: 0) == #""a": names no port and server_port is 0"#)
        let many = (1...33).map { "10.0.0.\($0)" }.joined(separator: ",")
        #expect(message(many) == "lists 33 servers; at most 32 are allowed")
    }

    @Test("the configuration file error points at the server_address line; the flag names itself")
    func configLocation() throws {
        func agent(_ address: String, port: String = "") throws -> AgentConfig {
            let text = "agent {\n trust_domain = \"td\"\n insecure_bootstrap = true\n \(port)\n server_address = \"\(address)\"\n}\n"
                + "plugins {\n NodeAttestor \"join_token\" {}\n KeyManager \"memory\" {}\n}"
            return try AgentConfig.parse(text, file: "agent.conf")
        }
        let parsed = try agent("127.0.0.1:1, s2.example", port: "server_port = 9")
        #expect(parsed.serverAddresses == [ServerAddress(host: .ipv4("127.0.0.1"), port: 1), ServerAddress(host: .name("s2.example"), port: 9)])
        var problem = ""
        do { _ = try agent("127.0.0.1:1,127.0.0.1:x") } catch { problem = "\(error)" }
        #expect(problem == #"agent.conf:5:19: "agent.server_address" entry 2 ("127.0.0.1:x"): the port "x" is not a number from 1 to 65535"#)
        do {
            _ = try AgentConfig.parse(
                "agent {\n trust_domain = \"td\"\n insecure_bootstrap = true\n server_address = \"s\"\n}\nplugins {\n NodeAttestor \"join_token\" {}\n KeyManager \"memory\" {}\n}",
                file: "agent.conf", overrides: .init(serverAddress: "a,,b"))
            problem = "accepted"
        } catch {
            problem = "\(error)"
        }
        #expect(problem == #"-serverAddress: "agent.server_address" entry 2 is empty (a stray comma?)"#)
    }
}
