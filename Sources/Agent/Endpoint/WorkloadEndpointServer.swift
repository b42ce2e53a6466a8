import Config
import Foundation
import GRPCCore
import GRPCHealth
import GRPCNIOTransportHTTP2
import PeerTracking
import Synchronization
import Wire

#if canImport(Glibc)
import Glibc
#endif

/// The agent's workload endpoint: one Unix socket serving the Workload API, Envoy SDS v3 and
/// `grpc.health.v1` together, with caller credentials from `PeerTracker` (SPIFFE-WIRE §1.2).
///
/// `run()` creates the socket's directory, removes a stale socket, binds, makes the socket
/// mode 0777 (any local process may call; attestation tells them apart) and serves until
/// `beginGracefulShutdown()` is called or the task is cancelled. Shutdown ends every open watch
/// and SDS stream (they never end on their own), lets unary calls finish, and removes the socket.
public final class WorkloadEndpointServer: Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        public var sds: AgentConfig.SDS
        public var unixAttestor: AgentConfig.UnixWorkloadAttestor
        public var streamsPerConnectionMax: Int
        public var requestMessageBytesMax: Int

        public init(
            socketPath: String, sds: AgentConfig.SDS = AgentConfig.SDS(),
            unixAttestor: AgentConfig.UnixWorkloadAttestor = AgentConfig.UnixWorkloadAttestor(),
            streamsPerConnectionMax: Int = Limits.streamsPerConnectionMax,
            requestMessageBytesMax: Int = Limits.requestMessageBytesMax
        ) {
            self.socketPath = socketPath
            self.sds = sds
            self.unixAttestor = unixAttestor
            self.streamsPerConnectionMax = streamsPerConnectionMax
            self.requestMessageBytesMax = requestMessageBytesMax
        }
    }

    public let configuration: Configuration
    public let tracker: PeerTracker
    public let health: HealthService
    private let streams: OpenStreams
    private let transport: HTTP2ServerTransport.Posix
    private let server: GRPCServer<HTTP2ServerTransport.Posix>

    public init(configuration: Configuration, provider: any WorkloadIdentityProvider) {
        precondition(configuration.streamsPerConnectionMax > 0 && configuration.requestMessageBytesMax > 0)
        self.configuration = configuration
        let tracker = PeerTracker()
        let streams = OpenStreams()
        let health = HealthService()
        let attestor = WorkloadCallerAttestor(
            tracker: tracker, attestor: UnixWorkloadAttestor(options: configuration.unixAttestor))
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: configuration.socketPath), transportSecurity: .plaintext,
            config: .defaults { config in
                config.channelDebuggingCallbacks = tracker.channelCallbacks
                config.http2.maxConcurrentStreams = configuration.streamsPerConnectionMax
                config.rpc.maxRequestPayloadSize = configuration.requestMessageBytesMax
            })
        let services: [any RegistrableRPCService] = [
            WorkloadAPIService(provider: provider, attestor: attestor, streams: streams),
            SDSService(provider: provider, attestor: attestor, streams: streams, names: configuration.sds),
            health,
        ]
        self.tracker = tracker
        self.health = health
        self.streams = streams
        self.transport = transport
        self.server = GRPCServer(transport: transport, services: services, interceptors: [SecurityHeaderInterceptor()])
    }

    /// Long-lived streams currently open (for tests and metrics).
    public var openStreamCount: Int { streams.count }
    /// The socket accepts connections (it is bound, listening and open to every user).
    public var isServing: Bool { serving.load(ordering: .acquiring) }
    private let serving = Atomic<Bool>(false)

    public func run() async throws {
        try Self.prepareSocketPath(configuration.socketPath)
        defer {
            serving.store(false, ordering: .releasing)
            Self.removeSocket(configuration.socketPath)
        }
        try await withTaskCancellationHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.server.serve() }
                _ = try await transport.listeningAddress
                guard chmod(configuration.socketPath, 0o777) == 0 else {
                    let code = errno
                    self.beginGracefulShutdown()
                    throw WorkloadEndpointStartError("cannot make \(configuration.socketPath) mode 0777: errno \(code)")
                }
                serving.store(true, ordering: .releasing)
                health.setStatus(.serving)
                health.setStatus(.serving, for: WorkloadAPI_SpiffeWorkloadAPI.descriptor.fullyQualifiedService)
                health.setStatus(.serving, for: Envoy_Service_Secret_V3_SecretDiscoveryService.descriptor.fullyQualifiedService)
            }
        } onCancel: {
            self.beginGracefulShutdown()
        }
    }

    /// Stops accepting calls, ends open streams (their clients see Unavailable and retry
    /// elsewhere or later) and lets `run()` return once in-flight calls are done.
    public func beginGracefulShutdown() {
        health.enterShutdown()
        streams.shutDown()
        server.beginGracefulShutdown()
    }

    /// Creates the parent directory (0755) and removes a stale socket. Anything else at the
    /// path is left alone and refused: the agent never deletes a file it did not create.
    static func prepareSocketPath(_ path: String) throws(WorkloadEndpointStartError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw WorkloadEndpointStartError("cannot create \(directory): \(error)")
        }
        guard let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType else {
            return
        }
        guard type == .typeSocket else {
            throw WorkloadEndpointStartError("\(path) exists and is not a socket")
        }
        guard unlink(path) == 0 else {
            throw WorkloadEndpointStartError("cannot remove the stale socket \(path): errno \(errno)")
        }
    }

    static func removeSocket(_ path: String) {
        if (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSocket {
            unlink(path)
        }
    }
}

public struct WorkloadEndpointStartError: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
