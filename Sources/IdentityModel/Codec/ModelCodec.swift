#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SPIFFE
import SwiftProtobuf

/// Encodes the model's values — registration entries, agent records, join tokens, authority
/// descriptors, federated bundles — on their own, outside an event.
///
/// Projections store these bytes in LMDB tables so a server restarts from its tables instead of
/// replaying the whole log, so the format is as explicit and stable as the event codec's:
/// - one leading format byte (`formatVersion`), then the protobuf message that the event schema
///   already uses for the value (`RegistrationEntryV1`, `JoinTokenCreatedV1`,
///   `X509AuthorityPreparedV1`, `JWTAuthorityPreparedV1`, `FederatedBundleSetV1`) or, for the
///   agent record that no event carries whole, `AgentRecordV1`;
/// - decoding stops at an unknown format byte or an unknown field, and validates every value
///   with the same rules as the event decoder, naming the field;
/// - encoding runs the decoder on what it built (the paired check), so a table never holds
///   bytes a restarting server would refuse.
///
/// Golden-bytes tests pin every value's encoding.
public enum ModelCodec {
    /// The first byte of every encoded value. A new message version gets a new format byte only
    /// if the leading message changes; older bytes keep decoding.
    public static let formatVersion: UInt8 = 1

    // MARK: - Registration entries

    public static func encode(_ entry: RegistrationEntry) throws(EventCodecError) -> [UInt8] {
        let bytes = try frame(EventCodec.makeEntry(entry))
        let decoded = try decodeRegistrationEntry(bytes)
        precondition(decoded == entry, "registration entry does not round-trip")
        return bytes
    }

    public static func decodeRegistrationEntry(_ bytes: [UInt8]) throws(EventCodecError) -> RegistrationEntry {
        let message: Lineage_Identity_V1_RegistrationEntryV1 = try unframe(bytes, at: "registration_entry_v1")
        return try EventCodec.readEntry(message, at: "registration_entry_v1")
    }

    // MARK: - Agents

    public static func encode(_ agent: AgentRecord) throws(EventCodecError) -> [UInt8] {
        var message = Lineage_Identity_V1_AgentRecordV1()
        message.spiffeID = agent.spiffeID.string
        message.attestationType = agent.attestationType
        message.selectors = agent.selectors.map(EventCodec.makeSelector)
        message.x509SvidSerialNumber = Data(agent.serialNumber.bytes)
        message.x509SvidNotAfterUnixMs = agent.notAfter.millisecondsSinceEpoch
        if let pending = agent.pendingSerialNumber { message.pendingX509SvidSerialNumber = Data(pending.bytes) }
        if let pending = agent.pendingNotAfter {
            message.pendingX509SvidNotAfterUnixMs = pending.millisecondsSinceEpoch
        }
        message.canReattest = agent.canReattest
        message.banned = agent.banned
        let bytes = try frame(message)
        let decoded = try decodeAgentRecord(bytes)
        precondition(decoded == agent, "agent record does not round-trip")
        return bytes
    }

    public static func decodeAgentRecord(_ bytes: [UInt8]) throws(EventCodecError) -> AgentRecord {
        let message: Lineage_Identity_V1_AgentRecordV1 = try unframe(bytes, at: "agent_record_v1")
        let path = "agent_record_v1"
        let record = AgentRecord(
            spiffeID: try EventCodec.spiffeID(message.spiffeID, at: path + ".spiffe_id"),
            attestationType: message.attestationType,
            selectors: try EventCodec.readSelectors(
                message.selectors, max: Limits.selectorsPerAgentMax, at: path + ".selectors"),
            serialNumber: try EventCodec.serial(message.x509SvidSerialNumber, at: path + ".x509_svid_serial_number"),
            notAfter: Timestamp(millisecondsSinceEpoch: message.x509SvidNotAfterUnixMs),
            pendingSerialNumber: message.pendingX509SvidSerialNumber.isEmpty
                ? nil
                : try EventCodec.serial(
                    message.pendingX509SvidSerialNumber, at: path + ".pending_x509_svid_serial_number"),
            pendingNotAfter: message.hasPendingX509SvidNotAfterUnixMs
                ? Timestamp(millisecondsSinceEpoch: message.pendingX509SvidNotAfterUnixMs) : nil,
            canReattest: message.canReattest,
            banned: message.banned)
        // The attestor name and selector bound follow the `AgentAttested` rules.
        let attested = AgentAttested(
            agentID: record.spiffeID, attestationType: record.attestationType, selectors: record.selectors,
            serialNumber: record.serialNumber, notAfter: record.notAfter, canReattest: record.canReattest)
        try EventCodec.check(path) { () throws(ValidationError) in try attested.validate() }
        if (record.pendingSerialNumber == nil) != (record.pendingNotAfter == nil) {
            throw .invalidField(ValidationError(field: path + ".pending_x509_svid_not_after_unix_ms", .empty))
        }
        return record
    }

    // MARK: - Join tokens

    public static func encode(_ token: JoinToken) throws(EventCodecError) -> [UInt8] {
        var message = Lineage_Identity_V1_JoinTokenCreatedV1()
        message.tokenSha256 = Data(token.tokenSHA256.bytes)
        message.expiresAtUnixMs = token.expiresAt.millisecondsSinceEpoch
        let bytes = try frame(message)
        let decoded = try decodeJoinToken(bytes)
        precondition(decoded == token, "join token does not round-trip")
        return bytes
    }

    public static func decodeJoinToken(_ bytes: [UInt8]) throws(EventCodecError) -> JoinToken {
        let message: Lineage_Identity_V1_JoinTokenCreatedV1 = try unframe(bytes, at: "join_token")
        return JoinToken(
            tokenSHA256: try EventCodec.digest(message.tokenSha256, at: "join_token.token_sha256"),
            expiresAt: Timestamp(millisecondsSinceEpoch: message.expiresAtUnixMs))
    }

    // MARK: - Authorities

    public static func encode(_ authority: X509AuthorityDescriptor) throws(EventCodecError) -> [UInt8] {
        guard case .x509AuthorityPreparedV1(let message) = EventCodec.makeEvent(
            .x509AuthorityPrepared(.init(authority: authority)))
        else { preconditionFailure("the encoder maps X509AuthorityPrepared to its own message") }
        let bytes = try frame(message)
        let decoded = try decodeX509Authority(bytes)
        precondition(decoded == authority, "X.509 authority does not round-trip")
        return bytes
    }

    public static func decodeX509Authority(_ bytes: [UInt8]) throws(EventCodecError) -> X509AuthorityDescriptor {
        let message: Lineage_Identity_V1_X509AuthorityPreparedV1 = try unframe(bytes, at: "x509_authority")
        guard case .x509AuthorityPrepared(let event) = try EventCodec.readEvent(.x509AuthorityPreparedV1(message))
        else { preconditionFailure("the decoder maps X509AuthorityPreparedV1 to its own event") }
        return event.authority
    }

    public static func encode(_ authority: JWTAuthorityDescriptor) throws(EventCodecError) -> [UInt8] {
        guard case .jwtAuthorityPreparedV1(let message) = EventCodec.makeEvent(
            .jwtAuthorityPrepared(.init(authority: authority)))
        else { preconditionFailure("the encoder maps JWTAuthorityPrepared to its own message") }
        let bytes = try frame(message)
        let decoded = try decodeJWTAuthority(bytes)
        precondition(decoded == authority, "JWT authority does not round-trip")
        return bytes
    }

    public static func decodeJWTAuthority(_ bytes: [UInt8]) throws(EventCodecError) -> JWTAuthorityDescriptor {
        let message: Lineage_Identity_V1_JWTAuthorityPreparedV1 = try unframe(bytes, at: "jwt_authority")
        guard case .jwtAuthorityPrepared(let event) = try EventCodec.readEvent(.jwtAuthorityPreparedV1(message))
        else { preconditionFailure("the decoder maps JWTAuthorityPreparedV1 to its own event") }
        return event.authority
    }

    // MARK: - Federated bundles

    public static func encode(_ bundle: FederatedBundle) throws(EventCodecError) -> [UInt8] {
        guard case .federatedBundleSetV1(let message) = EventCodec.makeEvent(.federatedBundleSet(.init(bundle: bundle)))
        else { preconditionFailure("the encoder maps FederatedBundleSet to its own message") }
        let bytes = try frame(message)
        let decoded = try decodeFederatedBundle(bytes)
        precondition(decoded == bundle, "federated bundle does not round-trip")
        return bytes
    }

    public static func decodeFederatedBundle(_ bytes: [UInt8]) throws(EventCodecError) -> FederatedBundle {
        let message: Lineage_Identity_V1_FederatedBundleSetV1 = try unframe(bytes, at: "federated_bundle")
        return try EventCodec.readBundle(message, at: "federated_bundle")
    }

    // MARK: - Framing

    /// The format byte followed by the message, bounded like an event record.
    static func frame(_ message: some SwiftProtobuf.Message) throws(EventCodecError) -> [UInt8] {
        let body: [UInt8]
        do {
            body = try message.serializedBytes()
        } catch {
            throw .encodingFailed(reason: String(describing: error))
        }
        if body.count + 1 > Limits.eventBytesMax {
            throw .inputTooLarge(bytes: body.count + 1, maxBytes: Limits.eventBytesMax)
        }
        return [formatVersion] + body
    }

    /// Checks the format byte and size, parses the message with the depth bound and refuses
    /// fields this build does not know.
    static func unframe<M: SwiftProtobuf.Message>(_ bytes: [UInt8], at path: String) throws(EventCodecError) -> M {
        if bytes.count > Limits.eventBytesMax {
            throw .inputTooLarge(bytes: bytes.count, maxBytes: Limits.eventBytesMax)
        }
        guard let version = bytes.first else { throw .malformed(reason: "empty model value") }
        guard version == formatVersion else { throw .unknownEventVersion(UInt64(version)) }
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = Limits.messageDepthMax
        let message: M
        do {
            message = try M(serializedBytes: Array(bytes.dropFirst()), options: options)
        } catch {
            throw .malformed(reason: String(describing: error))
        }
        try EventCodec.requireKnownFields(message, at: path)
        return message
    }
}
