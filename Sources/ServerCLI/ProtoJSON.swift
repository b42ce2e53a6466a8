import SPIFFE
import SwiftProtobuf

/// A response as SPIRE's cliprinter prints it: protojson with proto field names and every
/// unpopulated field emitted (`EmitUnpopulated`), unset messages left out (cliprinter strips the
/// nulls), re-encoded by Go's `encoding/json` (members sorted).
///
/// swift-protobuf has no "emit unpopulated" option, so the zero values are filled in from
/// `schemas`, which lists the fields of every message a verb prints.
enum ProtoJSON {
    static func render(_ message: some SwiftProtobuf.Message) throws -> String {
        var options = JSONEncodingOptions()
        options.preserveProtoFieldNames = true
        let json = try message.jsonString(options: options)
        let value = try JSONValue(parsing: Array(json.utf8), errorCode: .malformedBundle)
        return GoJSON.compact(fillingDefaults(value, type: type(of: message).protoMessageName))
    }

    /// Adds the zero value of every field of `type` that the encoder left out.
    static func fillingDefaults(_ value: JSONValue, type: String) -> JSONValue {
        guard case .object(var members) = value, let fields = schemas[type] else { return value }
        for field in fields.split(separator: " ") {
            let parts = field.split(separator: ":", maxSplits: 1).map(String.init)
            let name = parts[0]
            let kind = parts.count > 1 ? parts[1] : "s"
            let present = members[name]
            switch kind.first {
            case "m":
                if let present { members[name] = fillingDefaults(present, type: String(kind.dropFirst(2))) }
            case "r":
                let elementType = String(kind.dropFirst(2))
                let elements = present?.arrayValue ?? []
                members[name] = .array(elementType.isEmpty ? elements : elements.map { fillingDefaults($0, type: elementType) })
            default:
                if present == nil { members[name] = zero(kind) }
            }
        }
        return .object(members)
    }

    private static func zero(_ kind: String) -> JSONValue {
        switch kind.first {
        case "n": .number(JSONNumber(0))
        case "l": .string("0")  // 64-bit integers are strings in protojson
        case "b": .bool(false)
        case "e": .string(String(kind.dropFirst(2)))
        default: .string("")  // strings and bytes
        }
    }

    // Kinds: s string/bytes, n 32-bit number, l 64-bit number, b bool, e/NAME enum,
    // m/TYPE message, r/TYPE repeated message, r repeated scalar.
    private static let types = "spire.api.types."
    static let schemas: [String: String] = [
        types + "SPIFFEID": "trust_domain path",
        types + "Selector": "type value",
        types + "Status": "code:n message",
        types + "Entry": """
            id spiffe_id:m/\(types)SPIFFEID parent_id:m/\(types)SPIFFEID selectors:r/\(types)Selector \
            x509_svid_ttl:n federates_with:r admin:b downstream:b expires_at:l dns_names:r \
            revision_number:l store_svid:b jwt_svid_ttl:n hint created_at:l
            """,
        types + "Agent": """
            id:m/\(types)SPIFFEID attestation_type x509svid_serial_number x509svid_expires_at:l \
            selectors:r/\(types)Selector banned:b can_reattest:b agent_version
            """,
        types + "X509Certificate": "asn1 tainted:b",
        types + "JWTKey": "public_key key_id expires_at:l tainted:b",
        types + "Bundle": """
            trust_domain x509_authorities:r/\(types)X509Certificate jwt_authorities:r/\(types)JWTKey \
            refresh_hint:l sequence_number:l
            """,
        types + "JoinToken": "value expires_at:l",
        types + "JWTSVID": "token id:m/\(types)SPIFFEID expires_at:l issued_at:l hint",
        "spire.api.server.entry.v1.CountEntriesResponse": "count:n",
        "spire.api.server.entry.v1.ListEntriesResponse": "entries:r/\(types)Entry next_page_token",
        "spire.api.server.entry.v1.EntryResult": "status:m/\(types)Status entry:m/\(types)Entry",
        "spire.api.server.entry.v1.BatchCreateEntryResponse": "results:r/spire.api.server.entry.v1.EntryResult",
        "spire.api.server.entry.v1.BatchUpdateEntryResponse": "results:r/spire.api.server.entry.v1.EntryResult",
        "spire.api.server.entry.v1.BatchDeleteEntryResponse":
            "results:r/spire.api.server.entry.v1.BatchDeleteEntryResponse.Result",
        "spire.api.server.entry.v1.BatchDeleteEntryResponse.Result": "status:m/\(types)Status id",
        "spire.api.server.agent.v1.CountAgentsResponse": "count:n",
        "spire.api.server.bundle.v1.CountBundlesResponse": "count:n",
        "spire.api.server.agent.v1.ListAgentsResponse": "agents:r/\(types)Agent next_page_token",
        "spire.api.server.bundle.v1.ListFederatedBundlesResponse": "bundles:r/\(types)Bundle next_page_token",
        "spire.api.server.bundle.v1.BatchFederatedBundleResponse":
            "results:r/spire.api.server.bundle.v1.BatchFederatedBundleResponse.Result",
        "spire.api.server.bundle.v1.BatchFederatedBundleResponse.Result":
            "status:m/\(types)Status bundle:m/\(types)Bundle",
        "spire.api.server.bundle.v1.BatchDeleteFederatedBundleResponse":
            "results:r/spire.api.server.bundle.v1.BatchDeleteFederatedBundleResponse.Result",
        "spire.api.server.bundle.v1.BatchDeleteFederatedBundleResponse.Result": "status:m/\(types)Status trust_domain",
        "spire.api.server.svid.v1.MintJWTSVIDResponse": "svid:m/\(types)JWTSVID",
        "spire.api.server.localauthority.v1.AuthorityState": "authority_id expires_at:l upstream_authority_subject_key_id",
        "spire.api.server.localauthority.v1.GetAuthorityStateResponse": """
            active:m/spire.api.server.localauthority.v1.AuthorityState \
            prepared:m/spire.api.server.localauthority.v1.AuthorityState \
            old:m/spire.api.server.localauthority.v1.AuthorityState
            """,
        "spire.api.server.localauthority.v1.PrepareAuthorityResponse":
            "prepared_authority:m/spire.api.server.localauthority.v1.AuthorityState",
        "spire.api.server.localauthority.v1.ActivateAuthorityResponse":
            "activated_authority:m/spire.api.server.localauthority.v1.AuthorityState",
        "spire.api.server.localauthority.v1.TaintAuthorityResponse":
            "tainted_authority:m/spire.api.server.localauthority.v1.AuthorityState",
        "spire.api.server.localauthority.v1.RevokeAuthorityResponse":
            "revoked_authority:m/spire.api.server.localauthority.v1.AuthorityState",
    ]
}
