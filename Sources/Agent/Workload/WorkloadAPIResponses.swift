import Foundation
import SPIFFE
import SwiftProtobuf
import Wire

/// Pure builders of Workload API messages from a `WorkloadIdentities` snapshot (SPIRE's
/// `compose*Response`). Every message carries the full state (SPIFFE-WIRE §1.4).
enum WorkloadAPIResponses {
    /// Bundle map key for a trust domain: `spiffe://td`, SPIRE's form.
    static func bundleKey(_ trustDomain: TrustDomain) -> String { trustDomain.idString }

    static func x509SVIDResponse(_ state: WorkloadIdentities) throws(WorkloadEndpointError) -> WorkloadAPI_X509SVIDResponse {
        let bundle = try encode { () throws(SPIFFEError) in try state.x509Bundle.derEncoded() }
        var response = WorkloadAPI_X509SVIDResponse()
        for identity in state.servedIdentities {
            let der = try encode { () throws(SPIFFEError) in try identity.svid.derEncoded() }
            var svid = WorkloadAPI_X509SVID()
            svid.spiffeID = identity.spiffeID.string
            svid.x509Svid = Data(der.certificates)
            svid.x509SvidKey = Data(der.privateKey)
            svid.bundle = Data(bundle)
            svid.hint = identity.hint
            response.svids.append(svid)
        }
        for federated in state.relevantFederatedBundles {
            response.federatedBundles[bundleKey(federated.trustDomain)] = Data(
                try encode { () throws(SPIFFEError) in try federated.x509Bundle.derEncoded() })
        }
        return response
    }

    static func x509BundlesResponse(_ state: WorkloadIdentities) throws(WorkloadEndpointError) -> WorkloadAPI_X509BundlesResponse {
        var response = WorkloadAPI_X509BundlesResponse()
        response.bundles[bundleKey(state.trustDomain)] = Data(
            try encode { () throws(SPIFFEError) in try state.x509Bundle.derEncoded() })
        for federated in state.relevantFederatedBundles {
            response.bundles[bundleKey(federated.trustDomain)] = Data(
                try encode { () throws(SPIFFEError) in try federated.x509Bundle.derEncoded() })
        }
        return response
    }

    static func jwtBundlesResponse(_ state: WorkloadIdentities) throws(WorkloadEndpointError) -> WorkloadAPI_JWTBundlesResponse {
        var response = WorkloadAPI_JWTBundlesResponse()
        for bundle in jwtBundles(state) {
            response.bundles[bundleKey(bundle.trustDomain)] = Data(
                try encode { () throws(SPIFFEError) in try bundle.jsonEncoded() })
        }
        return response
    }

    /// The own JWT bundle and those of the federated trust domains the workload may trust.
    static func jwtBundles(_ state: WorkloadIdentities) -> [JWTBundle] {
        [state.jwtBundle] + state.relevantFederatedBundles.map(\.jwtBundle)
    }

    /// `claims` of ValidateJWTSVIDResponse: `aud` always a list; for a foreign trust domain only
    /// `sub`, `aud` and `exp` (SPIRE keeps only those plus configured allowed claims).
    static func claims(of svid: JWTSVID, ownTrustDomain: TrustDomain) -> Google_Protobuf_Struct {
        var claims = svid.claimsWithAudienceList
        if svid.id.trustDomain != ownTrustDomain {
            claims = claims.filter { ["sub", "aud", "exp"].contains($0.key) }
        }
        var result = Google_Protobuf_Struct()
        for (name, value) in claims { result.fields[name] = protobufValue(value) }
        return result
    }

    static func protobufValue(_ value: JSONValue) -> Google_Protobuf_Value {
        var result = Google_Protobuf_Value()
        switch value {
        case .null: result.nullValue = .nullValue
        case .bool(let flag): result.boolValue = flag
        case .number(let number): result.numberValue = number.doubleValue
        case .string(let text): result.stringValue = text
        case .array(let items):
            var list = Google_Protobuf_ListValue()
            list.values = items.map(protobufValue)
            result.listValue = list
        case .object(let members):
            var object = Google_Protobuf_Struct()
            for (name, member) in members { object.fields[name] = protobufValue(member) }
            result.structValue = object
        }
        return result
    }

    /// An encoding failure of the agent's own SVIDs or bundles is the agent's fault: Internal.
    static func encode<T>(_ body: () throws(SPIFFEError) -> T) throws(WorkloadEndpointError) -> T {
        do {
            return try body()
        } catch {
            throw WorkloadEndpointError(.internal, "cannot encode the agent's state: \(error)")
        }
    }

    /// grpc-swift has no send limit; refuse to send what no client would accept.
    static func checkSize(_ message: some SwiftProtobuf.Message) throws(WorkloadEndpointError) {
        let size: Int
        do {
            let bytes: [UInt8] = try message.serializedBytes()
            size = bytes.count
        } catch {
            throw WorkloadEndpointError(.internal, "cannot serialise the response: \(error)")
        }
        guard size <= Limits.responseMessageBytesMax else {
            throw WorkloadEndpointError(.exhausted, "response of \(size) bytes exceeds \(Limits.responseMessageBytesMax)")
        }
    }
}
