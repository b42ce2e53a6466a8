#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SPIFFE

/// Swift values → generated messages. Always writes the newest version of each event.
extension EventCodec {
    typealias Record = Lineage_Identity_V1_EventRecord

    static func makeRecord(_ envelope: EventEnvelope) -> Record {
        var record = Record()
        record.schemaVersion = schemaVersion
        record.issuedAtUnixMs = envelope.issuedAt.millisecondsSinceEpoch
        record.actor = makeActor(envelope.actor)
        record.requestID = Data(envelope.requestID.bytes)
        record.event = makeEvent(envelope.event)
        return record
    }

    static func makeActor(_ actor: Actor) -> Lineage_Identity_V1_ActorV1 {
        var message = Lineage_Identity_V1_ActorV1()
        switch actor {
        case .admin(let id): message.kind = .adminSpiffeID(id.string)
        case .localAdmin(let uid): message.kind = .localAdminUid(uid)
        case .agent(let id): message.kind = .agentSpiffeID(id.string)
        case .server(let name): message.kind = .serverNodeName(name.rawValue)
        }
        return message
    }

    static func makeSelector(_ selector: Selector) -> Lineage_Identity_V1_SelectorV1 {
        var message = Lineage_Identity_V1_SelectorV1()
        message.type = selector.type
        message.value = selector.value
        return message
    }

    static func makeEntry(_ entry: RegistrationEntry) -> Lineage_Identity_V1_RegistrationEntryV1 {
        var message = Lineage_Identity_V1_RegistrationEntryV1()
        message.id = entry.id.rawValue
        message.spiffeID = entry.spiffeID.string
        message.parentID = entry.parentID.string
        message.selectors = entry.selectors.map(makeSelector)
        message.x509SvidTtlSeconds = entry.x509SVIDTTLSeconds
        message.federatesWith = entry.federatesWith.map(\.name)
        message.admin = entry.admin
        message.downstream = entry.downstream
        if let expiresAt = entry.expiresAt { message.expiresAtUnixMs = expiresAt.millisecondsSinceEpoch }
        message.dnsNames = entry.dnsNames
        message.revisionNumber = entry.revisionNumber
        message.jwtSvidTtlSeconds = entry.jwtSVIDTTLSeconds
        message.hint = entry.hint
        message.createdAtUnixMs = entry.createdAt.millisecondsSinceEpoch
        return message
    }

    static func makeEvent(_ event: Event) -> Record.OneOf_Event {
        switch event {
        case .registrationEntryCreated(let event):
            var message = Lineage_Identity_V1_RegistrationEntryCreatedV1()
            message.entry = makeEntry(event.entry)
            return .registrationEntryCreatedV1(message)
        case .registrationEntryUpdated(let event):
            var message = Lineage_Identity_V1_RegistrationEntryUpdatedV1()
            message.entry = makeEntry(event.entry)
            return .registrationEntryUpdatedV1(message)
        case .registrationEntryDeleted(let event):
            var message = Lineage_Identity_V1_RegistrationEntryDeletedV1()
            message.entryID = event.entryID.rawValue
            message.revisionNumber = event.revisionNumber
            return .registrationEntryDeletedV1(message)

        case .joinTokenCreated(let event):
            var message = Lineage_Identity_V1_JoinTokenCreatedV1()
            message.tokenSha256 = Data(event.token.tokenSHA256.bytes)
            message.expiresAtUnixMs = event.token.expiresAt.millisecondsSinceEpoch
            return .joinTokenCreatedV1(message)
        case .joinTokenConsumed(let event):
            var message = Lineage_Identity_V1_JoinTokenConsumedV1()
            message.tokenSha256 = Data(event.tokenSHA256.bytes)
            message.agentSpiffeID = event.agentID.string
            return .joinTokenConsumedV1(message)

        case .agentAttested(let event):
            var message = Lineage_Identity_V1_AgentAttestedV1()
            message.agentSpiffeID = event.agentID.string
            message.attestationType = event.attestationType
            message.selectors = event.selectors.map(makeSelector)
            message.x509SvidSerialNumber = Data(event.serialNumber.bytes)
            message.x509SvidNotAfterUnixMs = event.notAfter.millisecondsSinceEpoch
            message.canReattest = event.canReattest
            return .agentAttestedV1(message)
        case .agentRenewed(let event):
            var message = Lineage_Identity_V1_AgentRenewedV1()
            message.agentSpiffeID = event.agentID.string
            message.x509SvidSerialNumber = Data(event.serialNumber.bytes)
            message.x509SvidNotAfterUnixMs = event.notAfter.millisecondsSinceEpoch
            return .agentRenewedV1(message)
        case .agentRenewalActivated(let event):
            var message = Lineage_Identity_V1_AgentRenewalActivatedV1()
            message.agentSpiffeID = event.agentID.string
            message.x509SvidSerialNumber = Data(event.serialNumber.bytes)
            return .agentRenewalActivatedV1(message)
        case .agentBanned(let event):
            var message = Lineage_Identity_V1_AgentBannedV1()
            message.agentSpiffeID = event.agentID.string
            return .agentBannedV1(message)
        case .agentEvicted(let event):
            var message = Lineage_Identity_V1_AgentEvictedV1()
            message.agentSpiffeID = event.agentID.string
            return .agentEvictedV1(message)

        case .x509SVIDIssued(let event):
            var message = Lineage_Identity_V1_X509SVIDIssuedV1()
            message.serialNumber = Data(event.serialNumber.bytes)
            message.spiffeID = event.spiffeID.string
            message.entryID = event.entryID?.rawValue ?? ""
            message.requestingAgentSpiffeID = event.requestingAgentID?.string ?? ""
            message.issuingServerNodeName = event.issuer.serverNodeName.rawValue
            message.authorityID = event.issuer.authorityID.rawValue
            message.notBeforeUnixMs = event.notBefore.millisecondsSinceEpoch
            message.notAfterUnixMs = event.notAfter.millisecondsSinceEpoch
            message.publicKeySha256 = Data(event.publicKeySHA256.bytes)
            message.certificateSha256 = Data(event.certificateSHA256.bytes)
            return .x509SvidIssuedV1(message)
        case .jwtSVIDIssued(let event):
            var message = Lineage_Identity_V1_JWTSVIDIssuedV1()
            message.spiffeID = event.spiffeID.string
            message.audience = event.audience
            message.expiresAtUnixMs = event.expiresAt.millisecondsSinceEpoch
            message.keyID = event.issuer.authorityID.rawValue
            message.entryID = event.entryID?.rawValue ?? ""
            message.requestingAgentSpiffeID = event.requestingAgentID?.string ?? ""
            message.issuingServerNodeName = event.issuer.serverNodeName.rawValue
            return .jwtSvidIssuedV1(message)

        case .x509AuthorityPrepared(let event):
            var message = Lineage_Identity_V1_X509AuthorityPreparedV1()
            message.serverNodeName = event.authority.reference.serverNodeName.rawValue
            message.authorityID = event.authority.reference.authorityID.rawValue
            message.certificateDer = Data(event.authority.certificateDER)
            message.notAfterUnixMs = event.authority.notAfter.millisecondsSinceEpoch
            message.upstreamAuthorityID = event.authority.upstreamAuthorityID?.rawValue ?? ""
            message.upstreamChainDer = event.authority.upstreamChainDER.map { Data($0) }
            message.upstreamRootsDer = event.authority.upstreamRootsDER.map { Data($0) }
            return .x509AuthorityPreparedV1(message)
        case .x509AuthorityActivated(let event):
            var message = Lineage_Identity_V1_X509AuthorityActivatedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .x509AuthorityActivatedV1(message)
        case .x509AuthorityTainted(let event):
            var message = Lineage_Identity_V1_X509AuthorityTaintedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .x509AuthorityTaintedV1(message)
        case .x509AuthorityRevoked(let event):
            var message = Lineage_Identity_V1_X509AuthorityRevokedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .x509AuthorityRevokedV1(message)
        case .jwtAuthorityPrepared(let event):
            var message = Lineage_Identity_V1_JWTAuthorityPreparedV1()
            message.serverNodeName = event.authority.reference.serverNodeName.rawValue
            message.authorityID = event.authority.reference.authorityID.rawValue
            message.publicKeyDer = Data(event.authority.publicKeyDER)
            message.notAfterUnixMs = event.authority.notAfter.millisecondsSinceEpoch
            return .jwtAuthorityPreparedV1(message)
        case .jwtAuthorityActivated(let event):
            var message = Lineage_Identity_V1_JWTAuthorityActivatedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .jwtAuthorityActivatedV1(message)
        case .jwtAuthorityTainted(let event):
            var message = Lineage_Identity_V1_JWTAuthorityTaintedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .jwtAuthorityTaintedV1(message)
        case .jwtAuthorityRevoked(let event):
            var message = Lineage_Identity_V1_JWTAuthorityRevokedV1()
            (message.serverNodeName, message.authorityID) = referenceFields(event.authority)
            return .jwtAuthorityRevokedV1(message)

        case .federatedBundleSet(let event):
            var message = Lineage_Identity_V1_FederatedBundleSetV1()
            message.trustDomain = event.bundle.trustDomain.name
            message.x509AuthoritiesDer = event.bundle.x509AuthoritiesDER.map { Data($0) }
            message.jwtAuthorities = event.bundle.jwtAuthorities.map { key in
                var keyMessage = Lineage_Identity_V1_JWTKeyV1()
                keyMessage.keyID = key.keyID.rawValue
                keyMessage.publicKeyDer = Data(key.publicKeyDER)
                if let expiresAt = key.expiresAt { keyMessage.expiresAtUnixMs = expiresAt.millisecondsSinceEpoch }
                return keyMessage
            }
            message.refreshHintSeconds = event.bundle.refreshHintSeconds
            message.sequenceNumber = event.bundle.sequenceNumber
            return .federatedBundleSetV1(message)
        case .federatedBundleDeleted(let event):
            var message = Lineage_Identity_V1_FederatedBundleDeletedV1()
            message.trustDomain = event.trustDomain.name
            return .federatedBundleDeletedV1(message)

        case .clusterMemberAdded(let event):
            var message = Lineage_Identity_V1_ClusterMemberAddedV1()
            message.nodeName = event.nodeName.rawValue
            message.address = event.address
            return .clusterMemberAddedV1(message)
        case .clusterMemberRemoved(let event):
            var message = Lineage_Identity_V1_ClusterMemberRemovedV1()
            message.nodeName = event.nodeName.rawValue
            return .clusterMemberRemovedV1(message)
        }
    }

    private static func referenceFields(_ reference: AuthorityReference) -> (String, String) {
        (reference.serverNodeName.rawValue, reference.authorityID.rawValue)
    }
}
