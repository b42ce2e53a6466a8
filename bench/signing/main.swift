// lineage-bench-signing: X509-SVID signing throughput through the server's full path — the
// agent's authorization for the entry, CSR parse and signature check, certificate signing by
// the active CA, and the durable X509SVIDIssued event — beside the cryptography the path cannot avoid (one P-256 signature
// verification plus one P-256 signature, same library, same run).
// Run in release: `swift build -c release --product lineage-bench-signing &&
// .build/release/lineage-bench-signing [parent-directory] [svids] [concurrency] [rounds]`.
import Authority
import Config
import Crypto
import Foundation
import IdentityModel
import KeyStore
import Projections
import SPIFFE
import Server
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#endif

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// CPU seconds this process has used (all threads, user + system). Rates per CPU second are
/// rates per core, and they hold still while other processes compete for the machine, which
/// wall-clock rates on a shared 2-core host do not.
func processCPUSeconds() -> Double {
    var usage = rusage()
    precondition(getrusage(RUSAGE_SELF.rawValue, &usage) == 0, "getrusage failed")
    func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return value(usage.ru_utime) + value(usage.ru_stime)
}

/// A measured run of `count` operations: wall-clock and CPU time.
struct Rate {
    let count: Int
    let wallSeconds: Double
    let cpuSeconds: Double
    var perWallSecond: Double { Double(count) / wallSeconds }
    var perCPUSecond: Double { Double(count) / cpuSeconds }
    var cpuMicrosecondsEach: Double { cpuSeconds / Double(count) * 1e6 }
}

/// Wall-clock and CPU time since it was made.
struct Stopwatch {
    let cpuStart = processCPUSeconds()
    let started = ContinuousClock.now

    func rate(_ count: Int) -> Rate {
        Rate(count: count, wallSeconds: seconds(ContinuousClock.now - started), cpuSeconds: processCPUSeconds() - cpuStart)
    }
}

func measureSync(_ count: Int, _ body: () throws -> Void) rethrows -> Rate {
    let stopwatch = Stopwatch()
    try body()
    return stopwatch.rate(count)
}

func measure(_ count: Int, _ body: () async throws -> Void) async rethrows -> Rate {
    let stopwatch = Stopwatch()
    try await body()
    return stopwatch.rate(count)
}

let arguments = CommandLine.arguments
let parent = arguments.count > 1 ? arguments[1] : "/var/tmp"
let count = arguments.count > 2 ? Int(arguments[2]) ?? 20_000 : 20_000
let concurrency = arguments.count > 3 ? Int(arguments[3]) ?? 64 : 64
let rounds = arguments.count > 4 ? Int(arguments[4]) ?? 1 : 1
precondition(count > 0 && concurrency > 0 && rounds > 0, "SVIDs, concurrency and rounds must be positive")
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

// The floor: one P-256 verify + one P-256 sign per SVID, on one thread. The public key is
// taken once, outside the loop: the floor is the two operations and nothing else.
let cryptoKey = P256.Signing.PrivateKey()
let cryptoPublicKey = cryptoKey.publicKey
let message = Data(repeating: 0x5a, count: 300)
let signature = try cryptoKey.signature(for: message)
let cryptoRounds = 20_000
func floorRate() async throws -> Rate {
    try await measure(cryptoRounds) {
        for _ in 0..<cryptoRounds {
            precondition(cryptoPublicKey.isValidSignature(signature, for: message))
            _ = try cryptoKey.signature(for: message)
        }
    }
}

// The full path on a one-server identity log with fsync on: an attested agent and one entry
// under it, so each request is authorized the way BatchNewX509SVID does it.
// LINEAGE_BENCH_PACING=off turns the driver's group-commit pacing off, for comparison.
let pacing: GroupCommitPacing = ProcessInfo.processInfo.environment["LINEAGE_BENCH_PACING"] == "off" ? .off : .standard
let log = try IdentityLog(dataDir: directory, nodeName: try NodeName("bench"), groupCommit: pacing)
let trustDomain = try TrustDomain("example.org")
let ca = CAManager(
    settings: .init(trustDomain: trustDomain, caTTL: .seconds(86_400), subject: .init(), x509KeyType: .ecP256, jwtKeyType: .ecP256),
    log: log, keys: MemoryKeyStore())
let issuer = SVIDIssuer(settings: .init(defaultX509TTL: .seconds(3600), defaultJWTTTL: .seconds(300), jwtIssuer: nil), ca: ca, log: log)
let runner = Task { try await log.run() }
try await log.waitUntilLeader()
try await ca.maintain()
let agent = try SPIFFEID(parsing: "spiffe://example.org/spire/agent/bench")
let entryID = try RegistrationEntryID("bench-entry")
try await log.submit(.agentAttested(AgentAttested(
    agentID: agent, attestationType: "join_token", selectors: [], serialNumber: try CertificateSerialNumber(bytes: [1]),
    notAfter: Timestamp(date: Date() + 86_400), canReattest: false)), by: .server(log.nodeName))
try await log.submit(.registrationEntryCreated(RegistrationEntryCreated(entry: RegistrationEntry(
    id: entryID, spiffeID: try SPIFFEID(parsing: "spiffe://example.org/workload"), parentID: agent,
    selectors: [try Selector(type: "unix", value: "uid:0")], createdAt: Timestamp(date: Date())))), by: .server(log.nodeName))

/// One BatchNewX509SVID with one SVID: authorize the entry for the agent, then check the CSR,
/// sign, and append the durable event.
func request(_ csr: [UInt8]) async throws {
    guard let entry = log.state.authorizedEntries(for: agent).first(where: { $0.id == entryID }) else {
        preconditionFailure("the bench entry is not authorized for the bench agent")
    }
    _ = try await issuer.issueX509(
        csrDER: csr, for: .init(id: entry.spiffeID, entryID: entry.id, requestingAgent: agent), actor: .agent(agent))
}

func pathRate() async throws -> Rate {
    try await measure(count) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < count {
                        try await request(csrs[index % csrs.count])
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

// LINEAGE_BENCH_ONLY=path runs the full path once and stops: a steady load to profile with
// `perf record -p`.
if ProcessInfo.processInfo.environment["LINEAGE_BENCH_ONLY"] == "path" {
    let rate = try await pathRate()
    print("path: \(String(format: "%.1f", rate.cpuMicrosecondsEach)) CPU µs/SVID, \(Int(rate.perWallSecond))/s wall")
    // exit() skips the top-level defer that removes the data.
    try? FileManager.default.removeItem(atPath: directory)
    exit(0)
}

// Floor and path alternate, so both see the same machine load; each is reported per round.
var results: [(floor: Rate, path: Rate)] = []
for _ in 0..<rounds {
    let floor = try await floorRate()
    let path = try await pathRate()
    results.append((floor, path))
}

/// The path's stages one at a time, on one thread, with the values the path computes: where
/// the CPU of one SVID goes, and what is left for the runtime, the driver and the store.
func stageCosts(csrs: [[UInt8]]) throws -> [(stage: String, rate: Rate)] {
    let rounds = 3_000
    guard let active = ca.x509 else { preconditionFailure("the bench CA has no active authority") }
    let subject = try SPIFFEID(parsing: "spiffe://example.org/workload")
    let key = try CSRValidator.subjectPublicKey(fromDER: csrs[0])
    var random = SystemRandomNumberGenerator()
    let signed = try CertificateTemplates.signedX509SVID(
        id: subject, key: key, serialNumber: SerialNumbers.random(using: &random), now: Date(), ttl: 3600,
        authority: active.authority)
    func event() throws -> Event {
        .x509SVIDIssued(X509SVIDIssued(
            serialNumber: try CertificateSerialNumber(bytes: signed.serialNumber.bytes), spiffeID: subject,
            entryID: entryID, requestingAgentID: agent, issuer: active.reference,
            notBefore: Timestamp(date: signed.notValidBefore), notAfter: Timestamp(date: signed.notValidAfter),
            publicKeySHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: key.subjectPublicKeyInfoDER))),
            certificateSHA256: try IdentityModel.SHA256Digest(bytes: Array(SHA256.hash(data: signed.der)))))
    }
    let envelope = EventEnvelope(
        issuedAt: Timestamp(date: Date()), actor: .agent(agent), requestID: RequestID.random(using: &random), event: try event())
    let encoded = try EventCodec.encode(envelope)
    let state = log.state
    var stages: [(String, Rate)] = []
    stages.append(("authorize (authorizedEntries)", measureSync(rounds) {
        for _ in 0..<rounds { precondition(state.authorizedEntries(for: agent).contains { $0.id == entryID }) }
    }))
    stages.append(("CSR parse + verify", try measureSync(rounds) {
        for index in 0..<rounds { _ = try CSRValidator.subjectPublicKey(fromDER: csrs[index % csrs.count]) }
    }))
    stages.append(("certificate encode + sign", try measureSync(rounds) {
        for _ in 0..<rounds {
            _ = try CertificateTemplates.signedX509SVID(
                id: subject, key: key, serialNumber: SerialNumbers.random(using: &random), now: Date(), ttl: 3600,
                authority: active.authority)
        }
    }))
    stages.append(("event values (2 SHA-256)", try measureSync(rounds) { for _ in 0..<rounds { _ = try event() } }))
    stages.append(("event encode", try measureSync(rounds) { for _ in 0..<rounds { _ = try EventCodec.encode(envelope) } }))
    stages.append(("event decode (followers only: the proposer reuses the encoder's value)", try measureSync(rounds) { for _ in 0..<rounds { _ = try EventCodec.decode(encoded) } }))
    stages.append(("project + table writes", measureSync(rounds) {
        var projected = state
        for offset in 0..<rounds {
            let outcome = Projector.apply(envelope, at: LogIndex(state.appliedIndex.rawValue + UInt64(offset) + 1), to: &projected)
            _ = Projector.tableWrites(for: outcome.changes, in: projected)
        }
    }))
    return stages
}
let stages = try stageCosts(csrs: csrs)

/// The log's part alone: `submit` of an already built X509SVIDIssued event, as many at once as
/// the path runs (envelope, encode, Raft, driver, apply, LMDB commit + fsync, waking the caller).
func submitRate() async throws -> Rate {
    guard let active = ca.x509 else { preconditionFailure("the bench CA has no active authority") }
    let issued = X509SVIDIssued(
        serialNumber: try CertificateSerialNumber(bytes: [1, 2, 3]), spiffeID: try SPIFFEID(parsing: "spiffe://example.org/workload"),
        entryID: entryID, requestingAgentID: agent, issuer: active.reference,
        notBefore: Timestamp(date: Date()), notAfter: Timestamp(date: Date() + 3600),
        publicKeySHA256: try IdentityModel.SHA256Digest(bytes: Array(repeating: 1, count: 32)),
        certificateSHA256: try IdentityModel.SHA256Digest(bytes: Array(repeating: 2, count: 32)))
    return try await measure(count) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    while index < count {
                        try await log.submit(.x509SVIDIssued(issued), by: .agent(agent))
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
let submitOnly = try await submitRate()

/// The cryptography's stages alone (CSR check, certificate), as many at once as the path runs:
/// what they cost when they share the machine the way the path shares it.
func cryptoConcurrentRate(_ list: [[UInt8]]) async throws -> Rate {
    guard let active = ca.x509 else { preconditionFailure("the bench CA has no active authority") }
    let subject = try SPIFFEID(parsing: "spiffe://example.org/workload")

    return try await measure(count) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var index = worker
                    var random = SystemRandomNumberGenerator()
                    while index < count {
                        let key = try CSRValidator.subjectPublicKey(fromDER: list[index % list.count])
                        _ = try CertificateTemplates.signedX509SVID(
                            id: subject, key: key, serialNumber: SerialNumbers.random(using: &random), now: Date(), ttl: 3600,
                            authority: active.authority)
                        index += concurrency
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
let cryptoConcurrent = try await cryptoConcurrentRate(csrs)
runner.cancel()
_ = try? await runner.value

func percent(_ value: Double) -> String { "\(Int((value * 100).rounded()))%" }

print("Signing benchmark: \(count) X509-SVIDs per round, \(concurrency) concurrent requests, \(rounds) round(s), "
    + "\(ProcessInfo.processInfo.activeProcessorCount) cores, group-commit pacing \(pacing == .off ? "off" : "on"), data under \(directory)\n")
print("| round | floor/s (1 core) | path/s wall | path CPU µs/SVID | path/s per core | share of floor per core | wall share |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for (round, result) in results.enumerated() {
    let floorPerCore = result.floor.perCPUSecond
    print("| \(round + 1) | \(Int(floorPerCore)) | \(Int(result.path.perWallSecond)) "
        + "| \(Int(result.path.cpuMicrosecondsEach.rounded())) | \(Int(result.path.perCPUSecond)) "
        + "| \(percent(result.path.perCPUSecond / floorPerCore)) | \(percent(result.path.perWallSecond / floorPerCore)) |")
}

let pathMicroseconds = results.map(\.path.cpuMicrosecondsEach).reduce(0, +) / Double(results.count)
print("\nOne SVID's CPU by stage (one thread, \(stages.first?.rate.count ?? 0) each; path = mean of the rounds above):\n")
print("| stage | CPU µs | share of path |")
print("|---|---:|---:|")
for (stage, rate) in stages {
    print("| \(stage) | \(String(format: "%.1f", rate.cpuMicrosecondsEach)) | \(percent(rate.cpuMicrosecondsEach / pathMicroseconds)) |")
}
print("| log submit alone (\(concurrency) at once; includes the event encode above) | \(String(format: "%.1f", submitOnly.cpuMicrosecondsEach)) | \(percent(submitOnly.cpuMicrosecondsEach / pathMicroseconds)) |")
print("| CSR check + certificate alone (\(concurrency) at once, no log) | \(String(format: "%.1f", cryptoConcurrent.cpuMicrosecondsEach)) | \(percent(cryptoConcurrent.cpuMicrosecondsEach / pathMicroseconds)) |")
let staged = stages.filter { !$0.stage.hasPrefix("event decode") }.map(\.rate.cpuMicrosecondsEach).reduce(0, +)
print("| rest (path minus the one-thread stages it runs): runtime, Raft, driver, LMDB commit + fsync, request table | \(String(format: "%.1f", pathMicroseconds - staged)) | \(percent((pathMicroseconds - staged) / pathMicroseconds)) |")
