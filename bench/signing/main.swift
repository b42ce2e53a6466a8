// lineage-bench-signing: X509-SVID signing throughput through the server's full path — CSR
// parse and signature check, certificate signing by the active CA, and the durable
// X509SVIDIssued event — beside the cryptography the path cannot avoid (one P-256 signature
// verification plus one P-256 signature, same library, same run).
// Run in release: `swift build -c release --product lineage-bench-signing &&
// .build/release/lineage-bench-signing [parent-directory] [svids] [concurrency]`.
import Authority
import Config
import Crypto
import Foundation
import IdentityModel
import KeyStore
import SPIFFE
import Server
import SwiftASN1
import X509

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

let arguments = CommandLine.arguments
let parent = arguments.count > 1 ? arguments[1] : "/var/tmp"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 20_000 : 20_000
let concurrency = arguments.count > 3 ? Int(arguments[3]) ?? 64 : 64
let directory = parent + "/lineage-bench-signing-\(ProcessInfo.processInfo.processIdentifier)"
defer { try? FileManager.default.removeItem(atPath: directory) }

// CSRs made up front: the agent's work, not the server's.
var csrs: [[UInt8]] = []
for _ in 0..<min(count, 2_000) {
    let key = P256.Signing.PrivateKey()
    let csr = try CertificateSigningRequest(
        version: .v1, subject: DistinguishedName(), privateKey: Certificate.PrivateKey(key),
        attributes: CertificateSigningRequest.Attributes(), signatureAlgorithm: .ecdsaWithSHA256)
    var serializer = DER.Serializer()
    try serializer.serialize(csr)
    csrs.append(serializer.serializedBytes)
}

// The floor: one P-256 verify + one P-256 sign per SVID, on one core.
let cryptoKey = P256.Signing.PrivateKey()
let message = Data(repeating: 0x5a, count: 300)
let signature = try cryptoKey.signature(for: message)
let clock = ContinuousClock()
var started = clock.now
let cryptoRounds = 20_000
for _ in 0..<cryptoRounds {
    precondition(cryptoKey.publicKey.isValidSignature(signature, for: message))
    _ = try cryptoKey.signature(for: message)
}
let cryptoRate = Double(cryptoRounds) / seconds(clock.now - started)

// The full path on a one-server identity log with fsync on.
let log = try IdentityLog(dataDir: directory, nodeName: try NodeName("bench"))
let trustDomain = try TrustDomain("example.org")
let ca = CAManager(
    settings: .init(trustDomain: trustDomain, caTTL: .seconds(86_400), subject: .init(), x509KeyType: .ecP256, jwtKeyType: .ecP256),
    log: log, keys: MemoryKeyStore())
let issuer = SVIDIssuer(settings: .init(defaultX509TTL: .seconds(3600), defaultJWTTTL: .seconds(300), jwtIssuer: nil), ca: ca, log: log)
let runner = Task { try await log.run() }
try await log.waitUntilLeader()
try await ca.maintain()
let id = try SPIFFEID(parsing: "spiffe://example.org/workload")
let agent = try SPIFFEID(parsing: "spiffe://example.org/spire/agent/bench")
started = clock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for worker in 0..<concurrency {
        group.addTask {
            var index = worker
            while index < count {
                _ = try await issuer.issueX509(
                    csrDER: csrs[index % csrs.count], for: .init(id: id, requestingAgent: agent), actor: .agent(agent))
                index += concurrency
            }
        }
    }
    try await group.waitForAll()
}
let pathRate = Double(count) / seconds(clock.now - started)
runner.cancel()
_ = try? await runner.value

print("Signing benchmark: \(count) X509-SVIDs, \(concurrency) concurrent requests, data under \(directory)\n")
print("| case | SVIDs/s | share of the crypto floor |")
print("|---|---:|---:|")
print("| crypto floor: P-256 verify + P-256 sign (swift-crypto, one core) | \(Int(cryptoRate)) | 100% |")
print("| full path: CSR check + sign + durable X509SVIDIssued event (whole process) | \(Int(pathRate)) | \(Int((pathRate / cryptoRate * 100).rounded()))% |")
