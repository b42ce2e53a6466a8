import Agent
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import PeerTracking
import Testing
import Wire

/// The peer tracker must tell a handler the real calling process, whatever the client sends.
@Suite("Peer credentials over the Unix socket")
struct PeerTrackerTests {
    /// A one-method service (test only) that answers FetchJWTSVID with what the tracker says
    /// about the caller: "pid uid gid alive".
    struct EchoPeer: RegistrableRPCService {
        let tracker: PeerTracker

        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(
                forMethod: WorkloadAPI_SpiffeWorkloadAPI.Method.FetchJWTSVID.descriptor,
                deserializer: ProtobufDeserializer<WorkloadAPI_JWTSVIDRequest>(),
                serializer: ProtobufSerializer<WorkloadAPI_JWTSVIDResponse>()
            ) { request, _ in
                let single = try await ServerRequest(stream: request)
                guard let peer = tracker.peer(for: single.metadata) else {
                    throw RPCError(code: .permissionDenied, message: "unknown peer")
                }
                var svid = WorkloadAPI_JWTSVID()
                svid.spiffeID = "\(peer.pid) \(peer.uid) \(peer.gid) \(peer.isAlive) \(peer.hasPidfd)"
                var response = WorkloadAPI_JWTSVIDResponse()
                response.svids = [svid]
                return StreamingServerResponse(single: ServerResponse(message: response))
            }
        }
    }

    static func withServer(
        _ body: @Sendable (PeerTracker, WorkloadAPI_SpiffeWorkloadAPI.Client<HTTP2ClientTransport.Posix>) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-peer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("api.sock").path
        let tracker = PeerTracker()
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: socket), transportSecurity: .plaintext,
            config: .defaults { $0.channelDebuggingCallbacks = tracker.channelCallbacks })
        let server = GRPCServer(transport: transport, services: [EchoPeer(tracker: tracker)])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            _ = try await transport.listeningAddress
            try await withGRPCClient(
                transport: .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
            ) { client in
                try await body(tracker, WorkloadAPI_SpiffeWorkloadAPI.Client(wrapping: client))
            }
            server.beginGracefulShutdown()
        }
    }

    @Test("the handler sees this process's pid, uid and gid, with a live pidfd")
    func ownCredentials() async throws {
        try await Self.withServer { tracker, client in
            let answer = try await client.fetchJWTSVID(WorkloadAPI_JWTSVIDRequest())
            let fields = answer.svids[0].spiffeID.split(separator: " ")
            #expect(fields[0] == "\(getpid())")
            #expect(fields[1] == "\(getuid())")
            #expect(fields[2] == "\(getgid())")
            #expect(fields[3] == "true")
            #expect(fields[4] == "true", "SO_PEERPIDFD needs Linux 6.5 or later")
            #expect(tracker.connectionCount == 1)
        }
    }

    @Test("a client cannot forge the connection token")
    func forgedHeaderIsReplaced() async throws {
        try await Self.withServer { _, client in
            var metadata = Metadata()
            metadata.addString("1", forKey: PeerTracker.metadataKey)
            metadata.addString("2", forKey: PeerTracker.metadataKey)
            let answer = try await client.fetchJWTSVID(WorkloadAPI_JWTSVIDRequest(), metadata: metadata)
            #expect(answer.svids[0].spiffeID.hasPrefix("\(getpid()) "))
        }
    }
}
