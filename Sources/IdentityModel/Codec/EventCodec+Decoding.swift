#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SPIFFE
import SwiftProtobuf

/// Generated messages → validated Swift values. One function per message version; a future
/// `AgentAttestedV2` gets its own function mapping into the same `AgentAttested`.
///
/// Field paths in errors use the schema's names (`agent_attested_v1.selectors[2].value`) because
/// they describe bytes in the log, whatever the Swift names become.
extension EventCodec {
    /// Oneof `event` numbers start here; 1–15 are the envelope's (see events.proto).
    static let firstEventFieldNumber: UInt64 = 16

    static func readRecord(_ record: Record) throws(EventCodecError) -> EventEnvelope {
        guard record.schemaVersion == schemaVersion else {
            throw .unknownEventVersion(UInt64(record.schemaVersion))
        }
        guard let payload = record.event else {
            // An event in a oneof field this build lacks lands in the unknown fields. Numbers
            // below `firstEventFieldNumber` belong to the envelope itself.
            let unknown = WireScanner.fieldNumbers(in: [UInt8](record.unknownFields.data))
            if let number = unknown.first(where: { $0 >= firstEventFieldNumber }) {
                throw .unknownEventType(fieldNumber: number)
            }
            if let number = unknown.first { throw .unknownField(path: "EventRecord", fieldNumber: number) }
            throw .missingEvent
        }
        try requireKnownFields(record, at: "")
        guard record.hasActor else { throw .invalidField(ValidationError(field: "actor", .empty)) }
        let actor = try readActor(record.actor, at: "actor")
        let requestID = try check("request_id") { () throws(ValidationError) in
            try RequestID(bytes: record.requestID)
        }
        return EventEnvelope(
            issuedAt: Timestamp(millisecondsSinceEpoch: record.issuedAtUnixMs),
            actor: actor, requestID: requestID, event: try readEvent(payload))
    }

    static func readActor(
        _ message: Lineage_Identity_V1_ActorV1, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> Actor {
        try requireKnownFields(message, at: path())
        switch message.kind {
        case .adminSpiffeID(let id): return .admin(try spiffeID(id, at: path() + ".admin_spiffe_id"))
        case .localAdminUid(let uid): return .localAdmin(uid: uid)
        case .agentSpiffeID(let id): return .agent(try spiffeID(id, at: path() + ".agent_spiffe_id"))
        case .serverNodeName(let name):
            return .server(try check(path() + ".server_node_name") { () throws(ValidationError) in try NodeName(name) })
        case nil: throw .invalidField(ValidationError(field: path(), .empty))
        }
    }

    // MARK: - Events

    static func readEvent(_ payload: Record.OneOf_Event) throws(EventCodecError) -> Event {
        switch payload {
        case .registrationEntryCreatedV1(let message):
            let path = "registration_entry_created_v1"
            try requireKnownFields(message, at: path)
            guard message.hasEntry else { throw .invalidField(ValidationError(field: path + ".entry", .empty)) }
            return .registrationEntryCreated(.init(entry: try readEntry(message.entry, at: path + ".entry")))
        case .registrationEntryUpdatedV1(let message):
            let path = "registration_entry_updated_v1"
            try requireKnownFields(message, at: path)
            guard message.hasEntry else { throw .invalidField(ValidationError(field: path + ".entry", .empty)) }
            return .registrationEntryUpdated(.init(entry: try readEntry(message.entry, at: path + ".entry")))
        case .registrationEntryDeletedV1(let message):
            let path = "registration_entry_deleted_v1"
            try requireKnownFields(message, at: path)
            if message.revisionNumber < 0 {
                throw .invalidField(ValidationError(field: path + ".revision_number", .negative))
            }
            return .registrationEntryDeleted(
                .init(entryID: try entryID(message.entryID, at: path + ".entry_id"), revisionNumber: message.revisionNumber))

        case .joinTokenCreatedV1(let message):
            let path = "join_token_created_v1"
            try requireKnownFields(message, at: path)
            let token = JoinToken(
                tokenSHA256: try digest(message.tokenSha256, at: path + ".token_sha256"),
                expiresAt: Timestamp(millisecondsSinceEpoch: message.expiresAtUnixMs))
            return .joinTokenCreated(.init(token: token))
        case .joinTokenConsumedV1(let message):
            let path = "join_token_consumed_v1"
            try requireKnownFields(message, at: path)
            return .joinTokenConsumed(
                .init(
                    tokenSHA256: try digest(message.tokenSha256, at: path + ".token_sha256"),
                    agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id")))

        case .agentAttestedV1(let message):
            let path = "agent_attested_v1"
            try requireKnownFields(message, at: path)
            let event = AgentAttested(
                agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id"),
                attestationType: message.attestationType,
                selectors: try readSelectors(message.selectors, max: Limits.selectorsPerAgentMax, at: path + ".selectors"),
                serialNumber: try serial(message.x509SvidSerialNumber, at: path + ".x509_svid_serial_number"),
                notAfter: Timestamp(millisecondsSinceEpoch: message.x509SvidNotAfterUnixMs),
                canReattest: message.canReattest)
            try check(path) { () throws(ValidationError) in try event.validate() }
            return .agentAttested(event)
        case .agentRenewedV1(let message):
            let path = "agent_renewed_v1"
            try requireKnownFields(message, at: path)
            return .agentRenewed(
                .init(
                    agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id"),
                    serialNumber: try serial(message.x509SvidSerialNumber, at: path + ".x509_svid_serial_number"),
                    notAfter: Timestamp(millisecondsSinceEpoch: message.x509SvidNotAfterUnixMs)))
        case .agentRenewalActivatedV1(let message):
            let path = "agent_renewal_activated_v1"
            try requireKnownFields(message, at: path)
            return .agentRenewalActivated(
                .init(
                    agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id"),
                    serialNumber: try serial(message.x509SvidSerialNumber, at: path + ".x509_svid_serial_number")))
        case .agentBannedV1(let message):
            let path = "agent_banned_v1"
            try requireKnownFields(message, at: path)
            return .agentBanned(.init(agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id")))
        case .agentEvictedV1(let message):
            let path = "agent_evicted_v1"
            try requireKnownFields(message, at: path)
            return .agentEvicted(.init(agentID: try spiffeID(message.agentSpiffeID, at: path + ".agent_spiffe_id")))

        case .x509SvidIssuedV1(let message):
            return .x509SVIDIssued(try readX509SVIDIssued(message, at: "x509_svid_issued_v1"))
        case .jwtSvidIssuedV1(let message):
            let path = "jwt_svid_issued_v1"
            try requireKnownFields(message, at: path)
            let event = JWTSVIDIssued(
                spiffeID: try spiffeID(message.spiffeID, at: path + ".spiffe_id"),
                audience: message.audience,
                expiresAt: Timestamp(millisecondsSinceEpoch: message.expiresAtUnixMs),
                issuer: try reference(message.issuingServerNodeName, message.keyID, at: path, authorityField: "key_id"),
                entryID: message.entryID.isEmpty ? nil : try entryID(message.entryID, at: path + ".entry_id"),
                requestingAgentID: try optionalSPIFFEID(
                    message.requestingAgentSpiffeID, at: path + ".requesting_agent_spiffe_id"))
            try check(path) { () throws(ValidationError) in try event.validate() }
            return .jwtSVIDIssued(event)

        case .x509AuthorityPreparedV1(let message):
            let path = "x509_authority_prepared_v1"
            try requireKnownFields(message, at: path)
            let descriptor = X509AuthorityDescriptor(
                reference: try reference(message.serverNodeName, message.authorityID, at: path),
                certificateDER: try der(message.certificateDer, max: Limits.certificateDERBytesMax, at: path + ".certificate_der"),
                notAfter: Timestamp(millisecondsSinceEpoch: message.notAfterUnixMs),
                upstreamAuthorityID: message.upstreamAuthorityID.isEmpty
                    ? nil : try authorityID(message.upstreamAuthorityID, at: path + ".upstream_authority_id"),
                upstreamChainDER: try certificates(
                    message.upstreamChainDer, max: Limits.upstreamChainCertificatesMax, at: path + ".upstream_chain_der"),
                upstreamRootsDER: try certificates(
                    message.upstreamRootsDer, max: Limits.upstreamRootsMax, at: path + ".upstream_roots_der"))
            // Self-signed authorities carry no upstream material; upstream-signed ones name at
            // least one root, or the bundle would lose the way to verify what they sign.
            if descriptor.upstreamAuthorityID == nil, !descriptor.upstreamChainDER.isEmpty || !descriptor.upstreamRootsDER.isEmpty {
                throw .invalidField(ValidationError(field: path + ".upstream_authority_id", .empty))
            }
            if descriptor.upstreamAuthorityID != nil, descriptor.upstreamRootsDER.isEmpty {
                throw .invalidField(ValidationError(field: path + ".upstream_roots_der", .empty))
            }
            return .x509AuthorityPrepared(.init(authority: descriptor))
        case .x509AuthorityActivatedV1(let message):
            let path = "x509_authority_activated_v1"
            try requireKnownFields(message, at: path)
            return .x509AuthorityActivated(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))
        case .x509AuthorityTaintedV1(let message):
            let path = "x509_authority_tainted_v1"
            try requireKnownFields(message, at: path)
            return .x509AuthorityTainted(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))
        case .x509AuthorityRevokedV1(let message):
            let path = "x509_authority_revoked_v1"
            try requireKnownFields(message, at: path)
            return .x509AuthorityRevoked(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))
        case .jwtAuthorityPreparedV1(let message):
            let path = "jwt_authority_prepared_v1"
            try requireKnownFields(message, at: path)
            let descriptor = JWTAuthorityDescriptor(
                reference: try reference(message.serverNodeName, message.authorityID, at: path),
                publicKeyDER: try der(message.publicKeyDer, max: Limits.publicKeyDERBytesMax, at: path + ".public_key_der"),
                notAfter: Timestamp(millisecondsSinceEpoch: message.notAfterUnixMs))
            return .jwtAuthorityPrepared(.init(authority: descriptor))
        case .jwtAuthorityActivatedV1(let message):
            let path = "jwt_authority_activated_v1"
            try requireKnownFields(message, at: path)
            return .jwtAuthorityActivated(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))
        case .jwtAuthorityTaintedV1(let message):
            let path = "jwt_authority_tainted_v1"
            try requireKnownFields(message, at: path)
            return .jwtAuthorityTainted(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))
        case .jwtAuthorityRevokedV1(let message):
            let path = "jwt_authority_revoked_v1"
            try requireKnownFields(message, at: path)
            return .jwtAuthorityRevoked(.init(authority: try reference(message.serverNodeName, message.authorityID, at: path)))

        case .federatedBundleSetV1(let message):
            return .federatedBundleSet(.init(bundle: try readBundle(message, at: "federated_bundle_set_v1")))
        case .federatedBundleDeletedV1(let message):
            let path = "federated_bundle_deleted_v1"
            try requireKnownFields(message, at: path)
            return .federatedBundleDeleted(.init(trustDomain: try trustDomain(message.trustDomain, at: path + ".trust_domain")))

        case .clusterMemberAddedV1(let message):
            let path = "cluster_member_added_v1"
            try requireKnownFields(message, at: path)
            let event = ClusterMemberAdded(
                nodeName: try nodeName(message.nodeName, at: path + ".node_name"), address: message.address)
            try check(path) { () throws(ValidationError) in try event.validate() }
            return .clusterMemberAdded(event)
        case .clusterMemberRemovedV1(let message):
            let path = "cluster_member_removed_v1"
            try requireKnownFields(message, at: path)
            return .clusterMemberRemoved(.init(nodeName: try nodeName(message.nodeName, at: path + ".node_name")))
        }
    }

    static func readX509SVIDIssued(
        _ message: Lineage_Identity_V1_X509SVIDIssuedV1, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> X509SVIDIssued {
        try requireKnownFields(message, at: path())
        let event = X509SVIDIssued(
            serialNumber: try serial(message.serialNumber, at: path() + ".serial_number"),
            spiffeID: try spiffeID(message.spiffeID, at: path() + ".spiffe_id"),
            entryID: message.entryID.isEmpty ? nil : try entryID(message.entryID, at: path() + ".entry_id"),
            requestingAgentID: try optionalSPIFFEID(
                message.requestingAgentSpiffeID, at: path() + ".requesting_agent_spiffe_id"),
            issuer: try reference(
                message.issuingServerNodeName, message.authorityID, at: path(), serverField: "issuing_server_node_name"),
            notBefore: Timestamp(millisecondsSinceEpoch: message.notBeforeUnixMs),
            notAfter: Timestamp(millisecondsSinceEpoch: message.notAfterUnixMs),
            publicKeySHA256: try digest(message.publicKeySha256, at: path() + ".public_key_sha256"),
            certificateSHA256: try digest(message.certificateSha256, at: path() + ".certificate_sha256"))
        if event.notAfter < event.notBefore {
            throw .invalidField(ValidationError(field: path() + ".not_after_unix_ms", .outOfOrder))
        }
        return event
    }

    static func certificates(
        _ list: [Data], max: Int, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> [[UInt8]] {
        if list.count > max { throw .invalidField(ValidationError(field: path(), .tooMany(max: max))) }
        var certificates: [[UInt8]] = []
        for (index, certificate) in list.enumerated() {
            certificates.append(try der(certificate, max: Limits.certificateDERBytesMax, at: path() + "[\(index)]"))
        }
        return certificates
    }

    static func readBundle(
        _ message: Lineage_Identity_V1_FederatedBundleSetV1, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> FederatedBundle {
        try requireKnownFields(message, at: path())
        let domain = try trustDomain(message.trustDomain, at: path() + ".trust_domain")
        let authorities = try certificates(
            message.x509AuthoritiesDer, max: Limits.x509AuthoritiesPerBundleMax, at: path() + ".x509_authorities_der")
        if message.jwtAuthorities.count > Limits.jwtAuthoritiesPerBundleMax {
            throw .invalidField(
                ValidationError(field: path() + ".jwt_authorities", .tooMany(max: Limits.jwtAuthoritiesPerBundleMax)))
        }
        var keys: [JWTKey] = []
        for (index, key) in message.jwtAuthorities.enumerated() {
            let keyPath = path() + ".jwt_authorities[\(index)]"
            try requireKnownFields(key, at: keyPath)
            keys.append(
                JWTKey(
                    keyID: try authorityID(key.keyID, at: keyPath + ".key_id"),
                    publicKeyDER: try der(key.publicKeyDer, max: Limits.publicKeyDERBytesMax, at: keyPath + ".public_key_der"),
                    expiresAt: key.hasExpiresAtUnixMs ? Timestamp(millisecondsSinceEpoch: key.expiresAtUnixMs) : nil))
        }
        if message.refreshHintSeconds < 0 {
            throw .invalidField(ValidationError(field: path() + ".refresh_hint_seconds", .negative))
        }
        return FederatedBundle(
            trustDomain: domain, x509AuthoritiesDER: authorities, jwtAuthorities: keys,
            refreshHintSeconds: message.refreshHintSeconds, sequenceNumber: message.sequenceNumber)
    }

    // MARK: - Shared messages

    static func readEntry(
        _ message: Lineage_Identity_V1_RegistrationEntryV1, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> RegistrationEntry {
        try requireKnownFields(message, at: path())
        if message.federatesWith.count > Limits.federatesWithPerEntryMax {
            throw .invalidField(
                ValidationError(field: path() + ".federates_with", .tooMany(max: Limits.federatesWithPerEntryMax)))
        }
        var federatesWith: [TrustDomain] = []
        for (index, name) in message.federatesWith.enumerated() {
            federatesWith.append(try trustDomain(name, at: path() + ".federates_with[\(index)]"))
        }
        let entry = RegistrationEntry(
            id: try entryID(message.id, at: path() + ".id"),
            spiffeID: try spiffeID(message.spiffeID, at: path() + ".spiffe_id"),
            parentID: try spiffeID(message.parentID, at: path() + ".parent_id"),
            selectors: try readSelectors(message.selectors, max: Limits.selectorsPerEntryMax, at: path() + ".selectors"),
            x509SVIDTTLSeconds: message.x509SvidTtlSeconds,
            jwtSVIDTTLSeconds: message.jwtSvidTtlSeconds,
            federatesWith: federatesWith,
            admin: message.admin,
            downstream: message.downstream,
            expiresAt: message.hasExpiresAtUnixMs ? Timestamp(millisecondsSinceEpoch: message.expiresAtUnixMs) : nil,
            dnsNames: message.dnsNames,
            revisionNumber: message.revisionNumber,
            hint: message.hint,
            createdAt: Timestamp(millisecondsSinceEpoch: message.createdAtUnixMs))
        try check(path()) { () throws(ValidationError) in try entry.validate() }
        return entry
    }

    /// Selectors, bounded in count before any is parsed.
    static func readSelectors(
        _ messages: [Lineage_Identity_V1_SelectorV1], max: Int, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> [Selector] {
        if messages.count > max { throw .invalidField(ValidationError(field: path(), .tooMany(max: max))) }
        var selectors: [Selector] = []
        selectors.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() {
            try requireKnownFields(message, at: path() + "[\(index)]")
            selectors.append(
                try check(path() + "[\(index)]") { () throws(ValidationError) in
                    try Selector(type: message.type, value: message.value)
                })
        }
        return selectors
    }

    // MARK: - Field helpers

    /// A field's path in error messages (`registration_entry_created_v1.entry.selectors[1]`).
    /// It is built only when an error is reported: building one for every field cost about a
    /// tenth of decoding an event.
    typealias FieldPath = () -> String

    /// Runs a validating initialiser, reporting its failure at `path`.
    static func check<T>(
        _ path: @autoclosure FieldPath, _ body: () throws(ValidationError) -> T
    ) throws(EventCodecError) -> T {
        do throws(ValidationError) {
            return try body()
        } catch {
            throw .invalidField(error.inside(path()))
        }
    }

    /// Refuses a message carrying fields this build does not know, naming the first one.
    static func requireKnownFields(
        _ message: some SwiftProtobuf.Message, at path: @autoclosure FieldPath
    ) throws(EventCodecError) {
        let unknown = message.unknownFields.data
        guard unknown.isEmpty else {
            throw .unknownField(
                path: path().isEmpty ? "EventRecord" : path(),
                fieldNumber: WireScanner.firstFieldNumber(in: [UInt8](unknown)) ?? 0)
        }
    }

    static func spiffeID(_ text: String, at path: @autoclosure FieldPath) throws(EventCodecError) -> SPIFFEID {
        if text.isEmpty { throw .invalidField(ValidationError(field: path(), .empty)) }
        do throws(SPIFFEIDError) {
            return try SPIFFEID(parsing: text)
        } catch {
            throw .invalidField(ValidationError(field: path(), .invalidSPIFFEID(error)))
        }
    }

    /// An optional SPIFFE ID field, where the empty string means none.
    static func optionalSPIFFEID(_ text: String, at path: @autoclosure FieldPath) throws(EventCodecError) -> SPIFFEID? {
        text.isEmpty ? nil : try spiffeID(text, at: path())
    }

    /// A bare trust domain name: the form the encoder writes, so decoding is exact.
    static func trustDomain(_ name: String, at path: @autoclosure FieldPath) throws(EventCodecError) -> TrustDomain {
        if name.isEmpty { throw .invalidField(ValidationError(field: path(), .empty)) }
        do throws(SPIFFEIDError) {
            return try TrustDomain(name)
        } catch {
            throw .invalidField(ValidationError(field: path(), .invalidSPIFFEID(error)))
        }
    }

    static func entryID(
        _ text: String, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> RegistrationEntryID {
        try check(path()) { () throws(ValidationError) in try RegistrationEntryID(text) }
    }

    static func nodeName(_ text: String, at path: @autoclosure FieldPath) throws(EventCodecError) -> NodeName {
        try check(path()) { () throws(ValidationError) in try NodeName(text) }
    }

    static func authorityID(_ text: String, at path: @autoclosure FieldPath) throws(EventCodecError) -> AuthorityID {
        try check(path()) { () throws(ValidationError) in try AuthorityID(text) }
    }

    static func reference(
        _ serverNodeName: String, _ authorityID: String, at path: @autoclosure FieldPath,
        serverField: String = "server_node_name", authorityField: String = "authority_id"
    ) throws(EventCodecError) -> AuthorityReference {
        AuthorityReference(
            serverNodeName: try nodeName(serverNodeName, at: path() + "." + serverField),
            authorityID: try self.authorityID(authorityID, at: path() + "." + authorityField))
    }

    static func serial(
        _ data: Data, at path: @autoclosure FieldPath
    ) throws(EventCodecError) -> CertificateSerialNumber {
        try check(path()) { () throws(ValidationError) in try CertificateSerialNumber(bytes: data) }
    }

    static func digest(_ data: Data, at path: @autoclosure FieldPath) throws(EventCodecError) -> SHA256Digest {
        try check(path()) { () throws(ValidationError) in try SHA256Digest(bytes: data) }
    }

    /// Non-empty DER of bounded size (parsed by the `SPIFFE` module where it is used).
    static func der(_ data: Data, max: Int, at path: @autoclosure FieldPath) throws(EventCodecError) -> [UInt8] {
        if data.isEmpty { throw .invalidField(ValidationError(field: path(), .empty)) }
        if data.count > max { throw .invalidField(ValidationError(field: path(), .tooLong(maxBytes: max))) }
        return [UInt8](data)
    }
}
