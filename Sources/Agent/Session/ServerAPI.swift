import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SPIFFE
import Wire

/// The server calls the agent makes, over one `GRPCClient` (SPIRE's agent API client set:
/// Agent, SVID, Bundle, plus Lineage's AgentSync). Thin: it turns wire messages into checked
/// values and RPC failures into `ServerCallError`, nothing more.
public struct ServerAPI: Sendable {
    public typealias Client = GRPCClient<HTTP2ClientTransport.Posix>

    let client: Client
    let callTimeout: Duration

    public init(client: Client, callTimeout: Duration = .seconds(30)) {
        self.client = client
        self.callTimeout = callTimeout
    }

    /// Calls fail fast when the server is unreachable (the loops own retrying) and unary calls
    /// are bounded in time.
    var unaryOptions: CallOptions {
        var options = CallOptions.defaults
        options.timeout = callTimeout
        options.waitForReady = false
        return options
    }

    /// What attestation produced.
    public struct Attested: Sendable {
        public let svid: X509SVID
        public let reattestable: Bool
    }

    /// `Agent/AttestAgent`: the first message carries the attestation data and the CSR; the
    /// server may answer with challenges (x509pop) before the result.
    public func attest(using attestor: any NodeAttestor, key: SVIDPrivateKey) async throws -> Attested {
        let agent = Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client)
        var first = Spire_Api_Server_Agent_V1_AttestAgentRequest()
        var params = Spire_Api_Server_Agent_V1_AttestAgentRequest.Params()
        params.data = try attestor.attestationData()
        params.params.csr = Data(try SVIDRequest.csr(for: key))
        first.params = params
        // Challenge responses flow from the response handler to the request writer; at most a
        // few rounds exist, so a small bound is enough.
        let (outgoing, continuation) = AsyncStream.makeStream(
            of: Spire_Api_Server_Agent_V1_AttestAgentRequest.self, bufferingPolicy: .bufferingOldest(4))
        continuation.yield(first)
        let request = StreamingClientRequest<Spire_Api_Server_Agent_V1_AttestAgentRequest> { writer in
            for await message in outgoing { try await writer.write(message) }
        }
        defer { continuation.finish() }
        let result = try await agent.attestAgent(request: request, options: unaryOptions) { response in
            var rounds = 0
            for try await message in response.messages {
                switch message.step {
                case .result(let result):
                    continuation.finish()
                    return result
                case .challenge(let challenge):
                    rounds += 1
                    guard rounds <= 8 else { throw AttestationFailure("the server sent more than 8 challenges") }
                    var answer = Spire_Api_Server_Agent_V1_AttestAgentRequest()
                    answer.challengeResponse = Data(try attestor.respond(to: Array(challenge)))
                    continuation.yield(answer)
                case nil:
                    throw AttestationFailure("the server sent an empty attestation step")
                }
            }
            throw AttestationFailure("the server ended attestation without a result")
        }
        let svid = try SVIDRequest.svid(chain: result.svid.certChain.map { Array($0) }, key: key)
        return Attested(svid: svid, reattestable: result.reattestable)
    }

    /// `Agent/RenewAgent` with a CSR for `key`, over mTLS with the current agent SVID.
    public func renewAgent(key: SVIDPrivateKey) async throws -> X509SVID {
        let agent = Spire_Api_Server_Agent_V1_Agent.Client(wrapping: client)
        var request = Spire_Api_Server_Agent_V1_RenewAgentRequest()
        request.params.csr = Data(try SVIDRequest.csr(for: key))
        let response = try await agent.renewAgent(request, options: unaryOptions)
        return try SVIDRequest.svid(chain: response.svid.certChain.map { Array($0) }, key: key)
    }

    /// One `SVID/BatchNewX509SVID` result: an SVID, or the server's reason for refusing.
    public enum MintResult: Sendable {
        case minted(X509SVID)
        case refused(code: Int32, message: String)
    }

    /// `SVID/BatchNewX509SVID` for `requests` (entry ID, key), in one call; results in order.
    public func batchNewX509SVID(_ requests: [(entryID: String, key: SVIDPrivateKey)]) async throws -> [MintResult] {
        precondition(requests.count <= Limits.svidBatchMax)
        let svidClient = Spire_Api_Server_Svid_V1_SVID.Client(wrapping: client)
        var request = Spire_Api_Server_Svid_V1_BatchNewX509SVIDRequest()
        for (entryID, key) in requests {
            var params = Spire_Api_Server_Svid_V1_NewX509SVIDParams()
            params.entryID = entryID
            params.csr = Data(try SVIDRequest.csr(for: key))
            request.params.append(params)
        }
        let response = try await svidClient.batchNewX509SVID(request, options: unaryOptions)
        guard response.results.count == requests.count else {
            throw SyncError(.malformedSVID, "asked for \(requests.count) SVIDs, got \(response.results.count) results")
        }
        return zip(requests, response.results).map { pair in
            let (requested, result) = pair
            guard result.status.code == 0 else {
                return .refused(code: result.status.code, message: result.status.message)
            }
            do {
                return .minted(try SVIDRequest.svid(chain: result.svid.certChain.map { Array($0) }, key: requested.key))
            } catch {
                return .refused(code: RPCError.Code.internalError.rawValue.int32, message: "\(error)")
            }
        }
    }

    /// `SVID/NewJWTSVID` for one entry.
    public func newJWTSVID(entryID: String, audience: [String]) async throws -> MintedJWTSVID {
        let svidClient = Spire_Api_Server_Svid_V1_SVID.Client(wrapping: client)
        var request = Spire_Api_Server_Svid_V1_NewJWTSVIDRequest()
        request.entryID = entryID
        request.audience = audience
        let response = try await svidClient.newJWTSVID(request, options: unaryOptions)
        guard !response.svid.token.isEmpty else { throw SyncError(.malformedSVID, "the server returned an empty JWT-SVID") }
        return MintedJWTSVID(
            token: response.svid.token, issuedAt: Date(timeIntervalSince1970: TimeInterval(response.svid.issuedAt)),
            expiresAt: Date(timeIntervalSince1970: TimeInterval(response.svid.expiresAt)))
    }

    /// `lineage.api.v1.AgentSync/WatchAuthorizedEntries` from `revision`; `onMessage` runs for
    /// every message in order. Returns when the server ends the stream.
    public func watchAuthorizedEntries(
        from revision: UInt64,
        onMessage: @escaping @Sendable (Lineage_Api_V1_WatchAuthorizedEntriesResponse) async throws -> Void
    ) async throws {
        let sync = Lineage_Api_V1_AgentSync.Client(wrapping: client)
        var request = Lineage_Api_V1_WatchAuthorizedEntriesRequest()
        request.fromRevision = revision
        var options = CallOptions.defaults
        options.maxResponseMessageBytes = Limits.syncMessageBytesMax
        options.waitForReady = false
        try await sync.watchAuthorizedEntries(request: ClientRequest(message: request), options: options) { response in
            for try await message in response.messages { try await onMessage(message) }
        }
    }

    /// `Bundle/GetBundle`: the own trust domain's bundle.
    public func getBundle() async throws -> SPIFFEBundle {
        let bundle = Spire_Api_Server_Bundle_V1_Bundle.Client(wrapping: client)
        return try SPIFFEBundle(wire: try await bundle.getBundle(Spire_Api_Server_Bundle_V1_GetBundleRequest(), options: unaryOptions))
    }
}

/// A JWT-SVID the server minted.
public struct MintedJWTSVID: Hashable, Sendable {
    public let token: String
    public let issuedAt: Date
    public let expiresAt: Date

    public init(token: String, issuedAt: Date, expiresAt: Date) {
        self.token = token
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

public struct AttestationFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension Int {
    fileprivate var int32: Int32 { Int32(clamping: self) }
}

extension Error {
    /// True when the server refused the agent's identity (SPIRE's `ShouldAgentReattest`): the
    /// agent SVID is unknown, evicted, banned or expired as far as the server is concerned.
    public var isIdentityRefusal: Bool {
        guard let rpc = self as? RPCError else { return false }
        return rpc.code == .permissionDenied || rpc.code == .unauthenticated
    }
}
