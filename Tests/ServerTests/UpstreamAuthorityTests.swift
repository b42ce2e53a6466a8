import Foundation
import Testing

/// `UpstreamAuthority "disk"` against a real server: the upstream CA (made by openssl, not by
/// us) signs the server's CA, the bundle holds the upstream root only, and every SVID carries
/// the chain up to it, so `openssl verify` against the root alone passes.
@Suite("UpstreamAuthority disk", .serialized)
struct UpstreamAuthorityTests {
    /// An openssl-made root and an intermediate CA under it, in `directory`.
    struct UpstreamFiles {
        let directory: String
        var rootCert: String { directory + "/root.pem" }
        var rootKey: String { directory + "/root.key" }
        var intermediateCert: String { directory + "/intermediate.pem" }
        var intermediateKey: String { directory + "/intermediate.key" }

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("upstream-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let caExtensions = directory + "/ca.ext"
            try "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
                .write(toFile: caExtensions, atomically: true, encoding: .utf8)
            try Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                              "-keyout", rootKey, "-out", rootCert, "-days", "30", "-subj", "/O=Upstream/CN=Upstream Root",
                              "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            try Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                              "-keyout", intermediateKey, "-out", directory + "/intermediate.csr", "-subj", "/O=Upstream/CN=Upstream Intermediate"])
            try Self.openssl(["x509", "-req", "-in", directory + "/intermediate.csr", "-CA", rootCert, "-CAkey", rootKey,
                              "-CAcreateserial", "-out", intermediateCert, "-days", "20", "-extfile", caExtensions])
        }

        static func openssl(_ arguments: [String]) throws {
            let result = try ServerProcess.runBlocking("/usr/bin/openssl", arguments)
            guard result.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: result.stderr]) }
        }

        func plugin(cert: String, key: String, bundle: String?) -> String {
            """
                UpstreamAuthority "disk" {
                    plugin_data {
                        cert_file_path = "\(cert)"
                        key_file_path = "\(key)"
                        \(bundle.map { "bundle_file_path = \"\($0)\"" } ?? "")
                    }
                }
            """
        }
    }

    static func fingerprint(_ pemPath: String) throws -> String {
        try ServerProcess.runBlocking("/usr/bin/openssl", ["x509", "-in", pemPath, "-noout", "-fingerprint", "-sha256"]).stdout
    }

    /// Mints an SVID through the CLI and checks it with openssl against `bundle show` alone.
    func checkIssuance(_ server: ServerProcess, expectedRoot: String, chainLength: Int) async throws {
        let bundle = try await server.cli(["bundle", "show", "-socketPath", server.socketPath])
        #expect(bundle.status == 0, "\(bundle.stderr)")
        let bundlePath = server.directory + "/bundle-show.pem"
        try bundle.stdout.write(toFile: bundlePath, atomically: true, encoding: .utf8)
        #expect(bundle.stdout.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == 1, "the bundle is the upstream root only")
        #expect(try Self.fingerprint(bundlePath) == Self.fingerprint(expectedRoot))

        let out = server.directory + "/minted"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let mint = try await server.cli(["x509", "mint", "-spiffeID", "spiffe://example.org/workload", "-write", out, "-socketPath", server.socketPath])
        #expect(mint.status == 0, "\(mint.stderr)")
        let svid = try String(contentsOfFile: out + "/svid.pem", encoding: .utf8)
        #expect(svid.components(separatedBy: "BEGIN CERTIFICATE").count - 1 == chainLength, "leaf, server CA, upstream intermediates")
        let verify = try ServerProcess.runBlocking(
            "/usr/bin/openssl", ["verify", "-CAfile", bundlePath, "-untrusted", out + "/svid.pem", out + "/svid.pem"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        let authority = try await server.cli(["localauthority", "x509", "show", "-socketPath", server.socketPath])
        #expect(authority.status == 0, "\(authority.stderr)")
        #expect(authority.stdout.contains("Upstream authority Subject Key ID: "), "\(authority.stdout)")
    }

    @Test("a self-signed upstream root signs the server CA; the bundle is that root")
    func selfSignedRoot() async throws {
        let upstream = try UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let server = try ServerProcess(extraPlugins: upstream.plugin(cert: upstream.rootCert, key: upstream.rootKey, bundle: nil))
        defer { server.kill(); try? FileManager.default.removeItem(atPath: server.directory) }
        try await server.start()
        try await checkIssuance(server, expectedRoot: upstream.rootCert, chainLength: 2)

        // After a forced rotation the new CA is upstream-signed too and the bundle is unchanged.
        #expect(try await server.cli(["localauthority", "x509", "prepare", "-socketPath", server.socketPath]).status == 0)
        try await checkIssuance(server, expectedRoot: upstream.rootCert, chainLength: 2)
    }

    @Test("an intermediate with bundle_file_path: SVIDs carry the intermediate, the bundle is the root")
    func intermediateWithBundle() async throws {
        let upstream = try UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let server = try ServerProcess(extraPlugins: upstream.plugin(
            cert: upstream.intermediateCert, key: upstream.intermediateKey, bundle: upstream.rootCert))
        defer { server.kill(); try? FileManager.default.removeItem(atPath: server.directory) }
        try await server.start()
        try await checkIssuance(server, expectedRoot: upstream.rootCert, chainLength: 3)
    }

    @Test("broken upstream files stop the start with the file and the reason", arguments: [
        "mismatched key", "intermediate without bundle", "missing file", "not a CA",
    ])
    func brokenUpstream(_ problem: String) async throws {
        let upstream = try UpstreamFiles()
        defer { try? FileManager.default.removeItem(atPath: upstream.directory) }
        let (plugin, expected): (String, String) = switch problem {
        case "mismatched key":
            (upstream.plugin(cert: upstream.rootCert, key: upstream.intermediateKey, bundle: nil), "does not match")
        case "intermediate without bundle":
            (upstream.plugin(cert: upstream.intermediateCert, key: upstream.intermediateKey, bundle: nil), "self-signed root")
        case "missing file":
            (upstream.plugin(cert: upstream.directory + "/nope.pem", key: upstream.rootKey, bundle: nil), "nope.pem")
        default:
            // A leaf (CA:false) under the root posing as the upstream CA.
            try Self.leaf(upstream)
        }
        let server = try ServerProcess(extraPlugins: plugin)
        defer { try? FileManager.default.removeItem(atPath: server.directory) }
        let result = try ServerProcess.runBlocking(server.executable, ["run", "-config", server.configPath])
        #expect(result.status != 0)
        #expect(result.stderr.contains("UpstreamAuthority"), "\(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: server.socketPath), "nothing was served")
    }

    static func leaf(_ upstream: UpstreamFiles) throws -> (String, String) {
        let key = upstream.directory + "/leaf.key", cert = upstream.directory + "/leaf.pem"
        try UpstreamFiles.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                   "-keyout", key, "-out", upstream.directory + "/leaf.csr", "-subj", "/CN=leaf"])
        let extensions = upstream.directory + "/leaf.ext"
        try "basicConstraints=critical,CA:false\n".write(toFile: extensions, atomically: true, encoding: .utf8)
        try UpstreamFiles.openssl(["x509", "-req", "-in", upstream.directory + "/leaf.csr", "-CA", upstream.rootCert,
                                   "-CAkey", upstream.rootKey, "-CAcreateserial", "-out", cert, "-days", "5", "-extfile", extensions])
        return (upstream.plugin(cert: cert, key: key, bundle: upstream.rootCert), "not a CA")
    }
}
