import GRPCCore
import GRPCHealth
import GRPCInProcessTransport
import SwiftProtobuf
import Testing
import Wire

@Suite("grpc.health.v1")
struct HealthServiceTests {
    func withClient(
        _ health: HealthService, _ body: (Grpc_Health_V1_Health.Client<InProcessTransport.Client>) async throws -> Void
    ) async throws {
        let transport = InProcessTransport()
        let server = GRPCServer(transport: transport.server, services: [health])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            try await withGRPCClient(transport: transport.client) { client in
                try await body(Grpc_Health_V1_Health.Client(wrapping: client))
            }
            server.beginGracefulShutdown()
        }
    }

    @Test("Check: the process is SERVING; an unknown service is NotFound")
    func check() async throws {
        let health = HealthService()
        health.setStatus(.notServing, for: "SpiffeWorkloadAPI")
        try await withClient(health) { client in
            #expect(try await client.check(.with { $0.service = "" }).status == .serving)
            #expect(try await client.check(.with { $0.service = "SpiffeWorkloadAPI" }).status == .notServing)
            await #expect(throws: RPCError.self) { try await client.check(.with { $0.service = "nope" }) }
            let listed = try await client.list(Grpc_Health_V1_HealthListRequest())
            #expect(listed.statuses.keys.sorted() == ["", "SpiffeWorkloadAPI"])
        }
    }

    @Test("Watch: the current status at once, then each change; unknown names report SERVICE_UNKNOWN")
    func watch() async throws {
        let health = HealthService()
        try await withClient(health) { client in
            try await client.watch(.with { $0.service = "" }) { response in
                var seen: [HealthService.ServingStatus] = []
                for try await message in response.messages {
                    seen.append(message.status)
                    if seen.count == 1 { health.enterShutdown() }
                    if seen.count == 2 { break }
                }
                #expect(seen == [.serving, .notServing])
            }
            try await client.watch(.with { $0.service = "later" }) { response in
                for try await message in response.messages {
                    #expect(message.status == .serviceUnknown)
                    break
                }
            }
        }
    }
}
