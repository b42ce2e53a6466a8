import Foundation
import GRPCCore
import IdentityModel
import Projections
import SPIFFE
import SwiftProtobuf
import Wire

/// SPIRE's `spire.api.server.entry.v1.Entry` over the identity log: writes are events, reads
/// come from the projections.
struct EntryService: Spire_Api_Server_Entry_V1_Entry.SimpleServiceProtocol {
    let api: ServerAPI
    static let pageSizeMax = 1_000
    static let batchMax = 500

    func countEntries(request: Spire_Api_Server_Entry_V1_CountEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_CountEntriesResponse
    {
        _ = try await api.adminRead()
        var response = Spire_Api_Server_Entry_V1_CountEntriesResponse()
        response.count = Int32(try filtered(request.hasFilter ? request.filter : nil).count)
        return response
    }

    func listEntries(request: Spire_Api_Server_Entry_V1_ListEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_ListEntriesResponse
    {
        _ = try await api.adminRead()
        guard request.pageSize >= 0 else { throw RPCError(code: .invalidArgument, message: "page size must not be negative") }
        var entries = try filtered(request.hasFilter ? request.filter : nil)
        if !request.pageToken.isEmpty { entries = entries.filter { $0.id.rawValue > request.pageToken } }
        var response = Spire_Api_Server_Entry_V1_ListEntriesResponse()
        let pageSize = request.pageSize == 0 ? entries.count : min(Int(request.pageSize), Self.pageSizeMax)
        let page = entries.prefix(pageSize)
        response.entries = page.map(WireMapping.wire)
        if request.pageSize > 0, page.count == pageSize, entries.count > pageSize, let last = page.last {
            response.nextPageToken = last.id.rawValue
        }
        return response
    }

    func getEntry(request: Spire_Api_Server_Entry_V1_GetEntryRequest, context: ServerContext) async throws -> Spire_Api_Types_Entry {
        _ = try await api.adminRead()
        guard !request.id.isEmpty else { throw RPCError(code: .invalidArgument, message: "missing ID") }
        guard let id = try? RegistrationEntryID(request.id), let entry = api.log.state.entries[id] else {
            throw RPCError(code: .notFound, message: "entry not found")
        }
        return WireMapping.wire(entry)
    }

    func batchCreateEntry(request: Spire_Api_Server_Entry_V1_BatchCreateEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchCreateEntryResponse
    {
        let actor = try api.adminCaller()
        guard request.entries.count <= Self.batchMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) entries per batch")
        }
        var response = Spire_Api_Server_Entry_V1_BatchCreateEntryResponse()
        for wire in request.entries {
            var result = Spire_Api_Server_Entry_V1_EntryResult()
            do {
                let entry = try await create(wire, actor: actor)
                result.status = APIError.ok
                result.entry = WireMapping.wire(entry)
            } catch {
                let failure = APIError.from(error)
                result.status = failure.status
                // SPIRE returns the existing entry with AlreadyExists.
                if failure.code == .alreadyExists, let existing = similar(to: wire) { result.entry = WireMapping.wire(existing) }
            }
            response.results.append(result)
        }
        return response
    }

    private func create(_ wire: Spire_Api_Types_Entry, actor: Actor) async throws -> RegistrationEntry {
        let id: RegistrationEntryID
        do {
            id = try RegistrationEntryID(wire.id.isEmpty ? UUID().uuidString.lowercased() : wire.id)
        } catch {
            throw APIError(.invalidArgument, "invalid entry ID \"\(wire.id)\": \(error)")
        }
        let entry = try WireMapping.entry(wire, id: id, trustDomain: api.trustDomain, revision: 0, createdAt: Timestamp(date: Date()))
        if let existing = api.log.state.similarEntry(to: entry) {
            throw APIError(.alreadyExists, "similar entry already exists (entry ID \(existing))")
        }
        try await api.log.submit(.registrationEntryCreated(RegistrationEntryCreated(entry: entry)), by: actor)
        return api.log.state.entries[id] ?? entry
    }

    private func similar(to wire: Spire_Api_Types_Entry) -> RegistrationEntry? {
        guard let id = try? RegistrationEntryID("probe"),
              let entry = try? WireMapping.entry(wire, id: id, trustDomain: api.trustDomain, revision: 0, createdAt: .init(secondsSinceEpoch: 0)),
              let existing = api.log.state.similarEntry(to: entry)
        else { return nil }
        return api.log.state.entries[existing]
    }

    func batchUpdateEntry(request: Spire_Api_Server_Entry_V1_BatchUpdateEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchUpdateEntryResponse
    {
        let actor = try api.adminCaller()
        guard request.entries.count <= Self.batchMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) entries per batch")
        }
        var response = Spire_Api_Server_Entry_V1_BatchUpdateEntryResponse()
        for wire in request.entries {
            var result = Spire_Api_Server_Entry_V1_EntryResult()
            do {
                let entry = try await update(wire, mask: request.hasInputMask ? request.inputMask : nil, actor: actor)
                result.status = APIError.ok
                result.entry = WireMapping.wire(entry)
            } catch {
                result.status = APIError.from(error).status
            }
            response.results.append(result)
        }
        return response
    }

    /// Applies the fields `mask` selects (all when nil) to the stored entry, as a new revision.
    private func update(_ wire: Spire_Api_Types_Entry, mask: Spire_Api_Types_EntryMask?, actor: Actor) async throws -> RegistrationEntry {
        guard let id = try? RegistrationEntryID(wire.id), let current = api.log.state.entries[id] else {
            throw APIError(.notFound, "entry not found")
        }
        var merged = WireMapping.wire(current)
        let all = mask == nil
        if all || mask!.spiffeID { merged.spiffeID = wire.spiffeID }
        if all || mask!.parentID { merged.parentID = wire.parentID }
        if all || mask!.selectors { merged.selectors = wire.selectors }
        if all || mask!.x509SvidTtl { merged.x509SvidTtl = wire.x509SvidTtl }
        if all || mask!.jwtSvidTtl { merged.jwtSvidTtl = wire.jwtSvidTtl }
        if all || mask!.federatesWith { merged.federatesWith = wire.federatesWith }
        if all || mask!.admin { merged.admin = wire.admin }
        if all || mask!.downstream { merged.downstream = wire.downstream }
        if all || mask!.expiresAt { merged.expiresAt = wire.expiresAt }
        if all || mask!.dnsNames { merged.dnsNames = wire.dnsNames }
        if all || mask!.hint { merged.hint = wire.hint }
        let entry = try WireMapping.entry(
            merged, id: id, trustDomain: api.trustDomain, revision: current.revisionNumber + 1, createdAt: current.createdAt)
        if let existing = api.log.state.similarEntry(to: entry) {
            throw APIError(.alreadyExists, "similar entry already exists (entry ID \(existing))")
        }
        try await api.log.submit(.registrationEntryUpdated(RegistrationEntryUpdated(entry: entry)), by: actor)
        return api.log.state.entries[id] ?? entry
    }

    func batchDeleteEntry(request: Spire_Api_Server_Entry_V1_BatchDeleteEntryRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse
    {
        let actor = try api.adminCaller()
        guard request.ids.count <= Self.batchMax else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.batchMax) entries per batch")
        }
        var response = Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse()
        for rawID in request.ids {
            var result = Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse.Result()
            result.id = rawID
            do {
                guard let id = try? RegistrationEntryID(rawID), let entry = api.log.state.entries[id] else {
                    throw APIError(.notFound, "entry not found")
                }
                try await api.log.submit(
                    .registrationEntryDeleted(RegistrationEntryDeleted(entryID: id, revisionNumber: entry.revisionNumber)), by: actor)
                result.status = APIError.ok
            } catch {
                result.status = APIError.from(error).status
            }
            response.results.append(result)
        }
        return response
    }

    func getAuthorizedEntries(request: Spire_Api_Server_Entry_V1_GetAuthorizedEntriesRequest, context: ServerContext) async throws
        -> Spire_Api_Server_Entry_V1_GetAuthorizedEntriesResponse
    {
        let agent = try await api.agentCaller()
        var response = Spire_Api_Server_Entry_V1_GetAuthorizedEntriesResponse()
        response.entries = api.log.state.authorizedEntries(for: agent.spiffeID).map(WireMapping.wire)
        return response
    }

    func syncAuthorizedEntries(
        request: RPCAsyncSequence<Spire_Api_Server_Entry_V1_SyncAuthorizedEntriesRequest, any Error>,
        response: RPCWriter<Spire_Api_Server_Entry_V1_SyncAuthorizedEntriesResponse>, context: ServerContext
    ) async throws {
        throw RPCError(code: .unimplemented, message: "Lineage pushes entries: use lineage.api.v1.AgentSync/WatchAuthorizedEntries")
    }

    // MARK: - Helpers

    /// The entries a filter selects, sorted by ID (the order pages follow).
    private func filtered(_ filter: Spire_Api_Server_Entry_V1_EntryFilter?) throws -> [RegistrationEntry] {
        let state = api.log.state
        var entries = Array(state.entries.values)
        if let filter {
            if filter.hasBySpiffeID {
                let id = try mapped { () throws(APIError) in try WireMapping.spiffeID(filter.bySpiffeID, field: "spiffe ID filter") }
                entries = entries.filter { $0.spiffeID == id }
            }
            if filter.hasByParentID {
                let id = try mapped { () throws(APIError) in try WireMapping.spiffeID(filter.byParentID, field: "parent ID filter") }
                entries = entries.filter { $0.parentID == id }
            }
            if filter.hasBySelectors {
                var wanted: [Selector] = []
                for selector in filter.bySelectors.selectors {
                    wanted.append(try mapped { () throws(APIError) in try WireMapping.selector(selector) })
                }
                let set = Set(wanted)
                entries = entries.filter { entry in
                    let have = Set(entry.selectors)
                    switch filter.bySelectors.match {
                    case .matchExact: return have == set
                    case .matchSubset: return have.isSubset(of: set)
                    case .matchSuperset: return have.isSuperset(of: set)
                    case .matchAny: return !have.isDisjoint(with: set)
                    default: return have == set
                    }
                }
            }
            if filter.hasByFederatesWith {
                let set = Set(filter.byFederatesWith.trustDomains)
                entries = entries.filter { entry in
                    let have = Set(entry.federatesWith.map(\.name))
                    switch filter.byFederatesWith.match {
                    case .matchExact: return have == set
                    case .matchSubset: return have.isSubset(of: set)
                    case .matchSuperset: return have.isSuperset(of: set)
                    case .matchAny: return !have.isDisjoint(with: set)
                    default: return have == set
                    }
                }
            }
            if filter.hasByHint { entries = entries.filter { $0.hint == filter.byHint.value } }
            if filter.hasByDownstream { entries = entries.filter { $0.downstream == filter.byDownstream.value } }
        }
        return entries.sorted { $0.id < $1.id }
    }

    private func mapped<T>(_ body: () throws(APIError) -> T) throws -> T {
        do {
            return try body()
        } catch {
            throw error.rpcError
        }
    }
}
