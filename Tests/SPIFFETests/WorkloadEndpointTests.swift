import SPIFFE
import Testing

/// SPIFFE-WIRE.md §5.2: go-spiffe's workloadapi address vectors, with `unix://foo` rejected as
/// the spec (and py-spiffe) require.
@Suite("Workload endpoint address")
struct WorkloadEndpointTests {
    @Test("accepted addresses")
    func accepted() throws {
        #expect(try WorkloadEndpoint(parsing: "unix:///tmp/x.sock") == .unix(path: "/tmp/x.sock"))
        #expect(try WorkloadEndpoint(parsing: "tcp://1.2.3.4:5") == .tcp(host: "1.2.3.4", port: 5))
        #expect(try WorkloadEndpoint(parsing: "tcp://[::1]:8081") == .tcp(host: "::1", port: 8081))
        #expect(try WorkloadEndpoint(parsing: "unix:///tmp/x.sock").description == "unix:///tmp/x.sock")
        #expect(try WorkloadEndpoint(parsing: "tcp://[::1]:8081").description == "tcp://[::1]:8081")
    }

    static let rejected: [(String, String)] = [
        ("blah", "scheme"),
        ("http://1.2.3.4:5", "scheme"),
        ("unix:opaque", "opaque"),
        ("unix://", "path"),
        ("unix://foo", "authority"),
        ("unix://foo?whatever", "query"),
        ("unix://foo#whatever", "fragment"),
        ("unix://john:doe@foo/path", "user info"),
        ("tcp:opaque", "opaque"),
        ("tcp://", "host"),
        ("tcp://1.2.3.4:5?whatever", "query"),
        ("tcp://1.2.3.4:5#whatever", "fragment"),
        ("tcp://john:doe@1.2.3.4:5/path", "user info"),
        ("tcp://1.2.3.4:5/path", "path"),
        ("tcp://foo", "IP:port"),
        ("tcp://foo:80", "IP:port"),
        ("tcp://1.2.3.4", "port"),
        ("tcp://1.2.3.4:", "port"),
        ("tcp://1.2.3.4:0", "port"),
        ("tcp://1.2.3.4:65536", "port"),
        ("tcp://256.2.3.4:5", "IP:port"),
    ]

    @Test("rejected addresses say why", arguments: rejected)
    func rejects(address: String, reason: String) {
        do {
            let endpoint = try WorkloadEndpoint(parsing: address)
            Issue.record("\(address) was accepted as \(endpoint)")
        } catch {
            #expect(error.code == .invalidEndpointAddress)
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }
}
