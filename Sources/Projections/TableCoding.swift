import IdentityModel
import SPIFFE

/// Row encodings of each state value, and their inverses for `IdentityState.restore(tables:)`.
enum TableCoding {
    static let appliedIndexKey = Array("applied_index".utf8)
    static let bundleSequenceKey = Array("bundle_sequence".utf8)

    // MARK: - Keys

    static func key(_ id: RegistrationEntryID) -> [UInt8] { Array(id.rawValue.utf8) }
    static func key(_ id: SPIFFEID) -> [UInt8] { Array(id.string.utf8) }
    /// Node names and authority IDs never contain 0x00, so the separator keeps keys unambiguous
    /// and sorts a server's authorities together.
    static func key(_ reference: AuthorityReference) -> [UInt8] {
        Array(reference.serverNodeName.rawValue.utf8) + [0] + Array(reference.authorityID.rawValue.utf8)
    }

    // MARK: - Rows

    static func row(_ entry: RegistrationEntry) -> TableRow {
        TableRow(table: ProjectionTable.entries.rawValue, key: key(entry.id), value: encoded { () throws(EventCodecError) in
            try ModelCodec.encode(entry)
        })
    }

    static func row(_ agent: AgentRecord) -> TableRow {
        TableRow(table: ProjectionTable.agents.rawValue, key: key(agent.spiffeID), value: encoded { () throws(EventCodecError) in
            try ModelCodec.encode(agent)
        })
    }

    static func row(_ record: JoinTokenRecord) -> TableRow {
        var writer = RowFormat.Writer()
        writer.field(encoded { () throws(EventCodecError) in try ModelCodec.encode(record.token) })
        writer.field(record.consumedBy.map { Array($0.string.utf8) } ?? [])
        return TableRow(table: ProjectionTable.joinTokens.rawValue, key: record.token.tokenSHA256.bytes, value: writer.bytes)
    }

    static func row(_ record: X509AuthorityRecord) -> TableRow {
        let descriptor = encoded { () throws(EventCodecError) in try ModelCodec.encode(record.descriptor) }
        return authorityRow(.x509Authorities, record, descriptor: descriptor)
    }

    static func row(_ record: JWTAuthorityRecord) -> TableRow {
        let descriptor = encoded { () throws(EventCodecError) in try ModelCodec.encode(record.descriptor) }
        return authorityRow(.jwtAuthorities, record, descriptor: descriptor)
    }

    private static func authorityRow(_ table: ProjectionTable, _ record: some JournalRecord, descriptor: [UInt8]) -> TableRow {
        var writer = RowFormat.Writer()
        writer.byte(record.phase.rawValue)
        writer.flag(record.tainted)
        writer.flag(record.revoked)
        writer.field(descriptor)
        return TableRow(table: table.rawValue, key: key(record.reference), value: writer.bytes)
    }

    static func row(_ bundle: FederatedBundle) -> TableRow {
        TableRow(
            table: ProjectionTable.federatedBundles.rawValue, key: Array(bundle.trustDomain.name.utf8),
            value: encoded { () throws(EventCodecError) in try ModelCodec.encode(bundle) })
    }

    static func row(_ member: ClusterMember) -> TableRow {
        var writer = RowFormat.Writer()
        writer.field(Array(member.address.utf8))
        return TableRow(table: ProjectionTable.clusterMembers.rawValue, key: Array(member.nodeName.rawValue.utf8), value: writer.bytes)
    }

    static func metaRow(_ key: [UInt8], _ value: UInt64) -> TableRow {
        TableRow(table: ProjectionTable.meta.rawValue, key: key, value: RowFormat.bigEndian(value))
    }

    /// State values came from validated events, so encoding them cannot fail unless the state
    /// is corrupt; storing a corrupt state would spread it, so that stops the process.
    private static func encoded(_ body: () throws(EventCodecError) -> [UInt8]) -> [UInt8] {
        do throws(EventCodecError) {
            return try body()
        } catch {
            preconditionFailure("projection state holds a value that does not encode: \(error)")
        }
    }

    // MARK: - Restore

    /// Reads one meta row; returns whether it was the applied index.
    static func restoreMeta(key: [UInt8], value: [UInt8], into state: inout IdentityState) throws(ProjectionTableError) -> Bool {
        guard let number = RowFormat.integer(value) else {
            throw .malformedRow(table: ProjectionTable.meta.rawValue, reason: "value is not 8 bytes")
        }
        switch key {
        case appliedIndexKey:
            state.appliedIndex = LogIndex(number)
            return true
        case bundleSequenceKey:
            state.bundleSequenceNumber = number
            return false
        default:
            throw .unknownMetaKey(key)
        }
    }

    static func restore(
        _ table: ProjectionTable, key: [UInt8], value: [UInt8], into state: inout IdentityState
    ) throws(ProjectionTableError) {
        let name = table.rawValue
        func model<T>(_ body: () throws(EventCodecError) -> T) throws(ProjectionTableError) -> T {
            do throws(EventCodecError) { return try body() } catch {
                throw .malformedRow(table: name, reason: error.description)
            }
        }
        func rowFields<T>(
            _ body: (inout RowFormat.Reader) throws(RowFormat.Failure) -> T
        ) throws(ProjectionTableError) -> T {
            do throws(RowFormat.Failure) {
                var reader = try RowFormat.Reader(value)
                let result = try body(&reader)
                try reader.finish()
                return result
            } catch {
                throw .malformedRow(table: name, reason: error.reason)
            }
        }

        switch table {
        case .entries:
            let entry = try model { () throws(EventCodecError) in try ModelCodec.decodeRegistrationEntry(value) }
            guard key == self.key(entry.id) else { throw .keyMismatch(table: name) }
            state.insertEntry(entry)
        case .agents:
            let agent = try model { () throws(EventCodecError) in try ModelCodec.decodeAgentRecord(value) }
            guard key == self.key(agent.spiffeID) else { throw .keyMismatch(table: name) }
            state.agents[agent.spiffeID] = agent
        case .joinTokens:
            let (tokenBytes, holderBytes) = try rowFields { (reader) throws(RowFormat.Failure) in
                (try reader.field(), try reader.field())
            }
            let token = try model { () throws(EventCodecError) in try ModelCodec.decodeJoinToken(tokenBytes) }
            guard key == token.tokenSHA256.bytes else { throw .keyMismatch(table: name) }
            var holder: SPIFFEID?
            if !holderBytes.isEmpty {
                do throws(SPIFFEIDError) {
                    holder = try SPIFFEID(parsing: String(decoding: holderBytes, as: UTF8.self))
                } catch {
                    throw .malformedRow(table: name, reason: "consuming agent: \(error)")
                }
            }
            state.insertJoinToken(JoinTokenRecord(token: token, consumedBy: holder))
        case .x509Authorities, .jwtAuthorities:
            let (phaseByte, tainted, revoked, descriptorBytes) = try rowFields { (reader) throws(RowFormat.Failure) in
                (try reader.byte(), try reader.flag(), try reader.flag(), try reader.field())
            }
            guard let phase = AuthorityPhase(rawValue: phaseByte) else {
                throw .malformedRow(table: name, reason: "unknown authority phase \(phaseByte)")
            }
            if table == .x509Authorities {
                let descriptor = try model { () throws(EventCodecError) in try ModelCodec.decodeX509Authority(descriptorBytes) }
                guard key == self.key(descriptor.reference) else { throw .keyMismatch(table: name) }
                state.x509Authorities[descriptor.reference] = X509AuthorityRecord(
                    descriptor: descriptor, phase: phase, tainted: tainted, revoked: revoked)
            } else {
                let descriptor = try model { () throws(EventCodecError) in try ModelCodec.decodeJWTAuthority(descriptorBytes) }
                guard key == self.key(descriptor.reference) else { throw .keyMismatch(table: name) }
                state.jwtAuthorities[descriptor.reference] = JWTAuthorityRecord(
                    descriptor: descriptor, phase: phase, tainted: tainted, revoked: revoked)
            }
        case .federatedBundles:
            let bundle = try model { () throws(EventCodecError) in try ModelCodec.decodeFederatedBundle(value) }
            guard key == Array(bundle.trustDomain.name.utf8) else { throw .keyMismatch(table: name) }
            state.federatedBundles[bundle.trustDomain] = bundle
        case .clusterMembers:
            let address = try rowFields { (reader) throws(RowFormat.Failure) in try reader.field() }
            let nodeName: NodeName
            do throws(ValidationError) {
                nodeName = try NodeName(String(decoding: key, as: UTF8.self))
            } catch {
                throw .malformedRow(table: name, reason: "node name \(error)")
            }
            state.clusterMembers[nodeName] = ClusterMember(
                nodeName: nodeName, address: String(decoding: address, as: UTF8.self))
        case .meta:
            preconditionFailure("meta rows are restored by restoreMeta")
        }
    }

    /// The invariants apply keeps, checked on restored rows: no two similar entries, at most one
    /// active authority per server and kind.
    static func checkInvariants(of state: IdentityState) throws(ProjectionTableError) {
        for id in state.entries.keys.sorted() {
            guard let entry = state.entries[id] else { continue }
            if let twin = state.similarEntry(to: entry) {
                throw .inconsistent("entries \(id) and \(twin) are similar")
            }
        }
        var active: Set<NodeName> = []
        for record in state.x509Authorities.values where record.phase == .active {
            if !active.insert(record.reference.serverNodeName).inserted {
                throw .inconsistent("server \(record.reference.serverNodeName) has two active X.509 authorities")
            }
        }
        active = []
        for record in state.jwtAuthorities.values where record.phase == .active {
            if !active.insert(record.reference.serverNodeName).inserted {
                throw .inconsistent("server \(record.reference.serverNodeName) has two active JWT authorities")
            }
        }
    }
}
