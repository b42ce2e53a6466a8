import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Synchronization
import Wire

/// A stand-in for the Lineage server's admin API: SPIRE's server services with fixed data on a
/// Unix socket in a temporary directory, recording every request it receives.
final class FakeServer: Sendable {
    struct State {
        var entries: [Spire_Api_Types_Entry] = []
        var nextEntryNumber = 1
        var requests: [any SwiftProtobuf.Message] = []
        var healthStatus: Grpc_Health_V1_HealthCheckResponse.ServingStatus = .serving
    }

    let state = Mutex(State())
    let socketPath: String

    init(socketPath: String) { self.socketPath = socketPath }

    func record(_ request: some SwiftProtobuf.Message) {
        state.withLock { $0.requests.append(request) }
    }

    /// The requests of one type, in arrival order.
    func requests<Request: SwiftProtobuf.Message>(_ type: Request.Type) -> [Request] {
        state.withLock { $0.requests.compactMap { $0 as? Request } }
    }

    var requestCount: Int { state.withLock { $0.requests.count } }

    /// Starts a server on a fresh socket, runs `body`, shuts down and removes the directory.
    static func with(_ body: (FakeServer) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("lineage-cli-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fake = FakeServer(socketPath: directory.appendingPathComponent("api.sock").path)
        let transport = HTTP2ServerTransport.Posix(
            address: .unixDomainSocket(path: fake.socketPath), transportSecurity: .plaintext)
        let server = GRPCServer(
            transport: transport,
            services: [
                EntryService(fake: fake), AgentService(fake: fake), BundleService(fake: fake),
                SVIDService(fake: fake), LocalAuthorityService(fake: fake), HealthService(fake: fake),
            ])
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            _ = try await transport.listeningAddress
            do {
                try await body(fake)
            } catch {
                server.beginGracefulShutdown()
                throw error
            }
            server.beginGracefulShutdown()
        }
    }
}

func spiffeID(_ trustDomain: String, _ path: String) -> Spire_Api_Types_SPIFFEID {
    var id = Spire_Api_Types_SPIFFEID()
    id.trustDomain = trustDomain
    id.path = path
    return id
}

func status(_ code: RPCError.Code, _ message: String) -> Spire_Api_Types_Status {
    var status = Spire_Api_Types_Status()
    status.code = Int32(code.rawValue)
    status.message = message
    return status
}

let unimplemented = RPCError(code: .unimplemented, message: "not in the fake server")

struct EntryService: Spire_Api_Server_Entry_V1_Entry.SimpleServiceProtocol {
    let fake: FakeServer

    func countEntries(request: Spire_Api_Server_Entry_V1_CountEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_CountEntriesResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Entry_V1_CountEntriesResponse()
        response.count = Int32(fake.state.withLock { $0.entries.count })
        return response
    }

    /// One entry per page, so every listing exercises SPIRE's page-token loop.
    func listEntries(request: Spire_Api_Server_Entry_V1_ListEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_ListEntriesResponse
    {
        fake.record(request)
        let entries = fake.state.withLock { $0.entries }
        let index = Int(request.pageToken) ?? 0
        var response = Spire_Api_Server_Entry_V1_ListEntriesResponse()
        if entries.indices.contains(index) { response.entries = [entries[index]] }
        if index + 1 < entries.count { response.nextPageToken = String(index + 1) }
        return response
    }

    func getEntry(request: Spire_Api_Server_Entry_V1_GetEntryRequest, context: ServerContext) async throws -> Spire_Api_Types_Entry {
        fake.record(request)
        guard let entry = fake.state.withLock({ $0.entries.first { $0.id == request.id } }) else {
            throw RPCError(code: .notFound, message: "entry not found")
        }
        return entry
    }

    /// Entries whose SPIFFE ID path is `/dup` fail with AlreadyExists, as a duplicate does in SPIRE.
    func batchCreateEntry(request: Spire_Api_Server_Entry_V1_BatchCreateEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchCreateEntryResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Entry_V1_BatchCreateEntryResponse()
        for entry in request.entries {
            var result = Spire_Api_Server_Entry_V1_EntryResult()
            if entry.spiffeID.path == "/dup" {
                result.status = status(.alreadyExists, "similar entry already exists")
            } else {
                var created = entry
                fake.state.withLock { state in
                    if created.id.isEmpty { created.id = "entry-\(state.nextEntryNumber)" }
                    state.nextEntryNumber += 1
                    state.entries.append(created)
                }
                result.status = okStatus
                result.entry = created
            }
            response.results.append(result)
        }
        return response
    }

    func batchUpdateEntry(request: Spire_Api_Server_Entry_V1_BatchUpdateEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchUpdateEntryResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Entry_V1_BatchUpdateEntryResponse()
        for entry in request.entries {
            var result = Spire_Api_Server_Entry_V1_EntryResult()
            let updated: Spire_Api_Types_Entry? = fake.state.withLock { state in
                guard let index = state.entries.firstIndex(where: { $0.id == entry.id }) else { return nil }
                var updated = entry
                updated.revisionNumber = state.entries[index].revisionNumber + 1
                state.entries[index] = updated
                return updated
            }
            if let updated {
                result.status = okStatus
                result.entry = updated
            } else {
                result.status = status(.notFound, "entry not found")
            }
            response.results.append(result)
        }
        return response
    }

    func batchDeleteEntry(request: Spire_Api_Server_Entry_V1_BatchDeleteEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse
    {
        fake.record(request)
        var response = Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse()
        for id in request.ids {
            var result = Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse.Result()
            result.id = id
            let removed = fake.state.withLock { state in
                let before = state.entries.count
                state.entries.removeAll { $0.id == id }
                return state.entries.count < before
            }
            result.status = removed ? okStatus : status(.notFound, "entry not found")
            response.results.append(result)
        }
        return response
    }

    func getAuthorizedEntries(request: Spire_Api_Server_Entry_V1_GetAuthorizedEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_GetAuthorizedEntriesResponse
    { throw unimplemented }

    func syncAuthorizedEntries(
        request: RPCAsyncSequence<Spire_Api_Server_Entry_V1_SyncAuthorizedEntriesRequest, any Error>,
        response: RPCWriter<Spire_Api_Server_Entry_V1_SyncAuthorizedEntriesResponse>, context: ServerContext
    ) async throws { throw unimplemented }
}

struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    let fake: FakeServer

    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        fake.record(request)
        var response = Grpc_Health_V1_HealthCheckResponse()
        response.status = fake.state.withLock { $0.healthStatus }
        return response
    }

    func list(request: Grpc_Health_V1_HealthListRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthListResponse {
        throw unimplemented
    }

    func watch(
        request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext
    ) async throws { throw unimplemented }
}

let okStatus: Spire_Api_Types_Status = {
    var status = Spire_Api_Types_Status()
    status.message = "OK"
    return status
}()
