import Config
import Foundation
import SPIFFE
import SwiftProtobuf
import Wire

/// Builds SDS responses the way SPIRE's `sdsv3` handler does (SPIFFE-WIRE §3.2). Pure: the
/// version and nonce are passed in.
struct SDSResponseBuilder: Sendable {
    static let secretTypeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
    static let spiffeValidatorName = "envoy.tls.cert_validator.spiffe"
    static let nodeDisableKey = "disable_spiffe_cert_validation"

    let names: AgentConfig.SDS

    /// One Secret per served name, each named exactly as requested. An empty `resource_names`
    /// means everything: every bundle under `spiffe://td` and every SVID under its SPIFFE ID.
    func response(
        to request: Envoy_Service_Discovery_V3_DiscoveryRequest, node: Envoy_Config_Core_V3_Node?,
        state: WorkloadIdentities, versionInfo: String, nonce: String
    ) throws(WorkloadEndpointError) -> Envoy_Service_Discovery_V3_DiscoveryResponse {
        guard request.resourceNames.count <= Limits.sdsResourceNamesMax else {
            throw WorkloadEndpointError(.invalidArgument, "at most \(Limits.sdsResourceNamesMax) resource names per request")
        }
        let useValidator = try usesSPIFFEValidator(node)
        let everything = request.resourceNames.isEmpty
        var unserved = Set(request.resourceNames)
        var secrets: [Envoy_Extensions_TransportSockets_Tls_V3_Secret] = []

        let federated = state.relevantFederatedBundles.map(\.x509Bundle)
        for bundle in [state.x509Bundle] + federated {
            let isOwn = bundle.trustDomain == state.trustDomain
            let idName = bundle.trustDomain.idString
            let name: String
            let context: Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext
            if everything || unserved.contains(idName) {
                name = idName
                context = try validationContext([bundle], useValidator: useValidator)
            } else if isOwn && unserved.contains(names.defaultBundleName) {
                name = names.defaultBundleName
                context = try validationContext([bundle], useValidator: useValidator)
            } else if isOwn && unserved.contains(names.defaultAllBundlesName) {
                guard useValidator else {
                    throw WorkloadEndpointError(
                        .internal, "\"\(names.defaultAllBundlesName)\" needs the SPIFFE certificate validator, which is disabled for this client")
                }
                name = names.defaultAllBundlesName
                context = try validationContext([bundle] + federated, useValidator: true)
            } else {
                continue
            }
            unserved.remove(name)
            secrets.append(.with { $0.name = name; $0.validationContext = context })
        }

        for (index, identity) in state.servedIdentities.enumerated() {
            let idName = identity.spiffeID.string
            let name: String
            if everything || unserved.contains(idName) {
                name = idName
            } else if index == 0 && unserved.contains(names.defaultSVIDName) {
                name = names.defaultSVIDName
            } else {
                continue
            }
            unserved.remove(name)
            let certificate = try tlsCertificate(identity.svid)
            secrets.append(.with { $0.name = name; $0.tlsCertificate = certificate })
        }

        guard unserved.isEmpty else {
            throw WorkloadEndpointError(
                .invalidArgument, "workload is not authorized for the requested identities \(unserved.sorted())")
        }
        var response = Envoy_Service_Discovery_V3_DiscoveryResponse()
        response.versionInfo = versionInfo
        response.typeURL = request.typeURL
        response.nonce = nonce
        for secret in secrets {
            do {
                response.resources.append(try Google_Protobuf_Any(message: secret))
            } catch {
                throw WorkloadEndpointError(.internal, "cannot encode secret \(secret.name): \(error)")
            }
        }
        try WorkloadAPIResponses.checkSize(response)
        return response
    }

    /// The SPIFFE validator is used for clients newer than Envoy 1.17 (or that do not say), unless
    /// the agent option or the node's `disable_spiffe_cert_validation` metadata turns it off; the
    /// metadata, when present, decides.
    func usesSPIFFEValidator(_ node: Envoy_Config_Core_V3_Node?) throws(WorkloadEndpointError) -> Bool {
        var disabled = names.disableSPIFFECertValidation
        if let value = node?.metadata.fields[Self.nodeDisableKey] {
            switch value.kind {
            case .boolValue(let flag): disabled = flag
            case .stringValue(let text):
                guard let flag = Self.parseBool(text) else {
                    throw WorkloadEndpointError(.invalidArgument, "node metadata \(Self.nodeDisableKey) is not a boolean: \"\(text.prefix(32))\"")
                }
                disabled = flag
            default:
                throw WorkloadEndpointError(.invalidArgument, "node metadata \(Self.nodeDisableKey) must be a bool or a string")
            }
        }
        if disabled { return false }
        guard case .userAgentBuildVersion(let build)? = node?.userAgentVersionType, build.hasVersion else { return true }
        let version = build.version
        return version.majorNumber > 1 || (version.majorNumber == 1 && version.minorNumber > 17)
    }

    /// Go's `strconv.ParseBool`, which SPIRE uses for the string form.
    static func parseBool(_ text: String) -> Bool? {
        switch text {
        case "1", "t", "T", "true", "TRUE", "True": true
        case "0", "f", "F", "false", "FALSE", "False": false
        default: nil
        }
    }

    func validationContext(
        _ bundles: [X509Bundle], useValidator: Bool
    ) throws(WorkloadEndpointError) -> Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext {
        var context = Envoy_Extensions_TransportSockets_Tls_V3_CertificateValidationContext()
        guard useValidator else {
            precondition(bundles.count == 1, "trusted_ca holds one trust domain's authorities")
            context.trustedCa = inline(try WorkloadAPIResponses.encode { () throws(SPIFFEError) in try bundles[0].pemEncoded() })
            return context
        }
        var config = Envoy_Extensions_TransportSockets_Tls_V3_SPIFFECertValidatorConfig()
        for bundle in bundles.sorted(by: { $0.trustDomain < $1.trustDomain }) {
            var trustDomain = Envoy_Extensions_TransportSockets_Tls_V3_SPIFFECertValidatorConfig.TrustDomain()
            trustDomain.name = bundle.trustDomain.name
            trustDomain.trustBundle = inline(try WorkloadAPIResponses.encode { () throws(SPIFFEError) in try bundle.pemEncoded() })
            config.trustDomains.append(trustDomain)
        }
        var extensionConfig = Envoy_Config_Core_V3_TypedExtensionConfig()
        extensionConfig.name = Self.spiffeValidatorName
        do {
            extensionConfig.typedConfig = try Google_Protobuf_Any(message: config)
        } catch {
            throw WorkloadEndpointError(.internal, "cannot encode the SPIFFE validator config: \(error)")
        }
        context.customValidatorConfig = extensionConfig
        return context
    }

    func tlsCertificate(_ svid: X509SVID) throws(WorkloadEndpointError) -> Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate {
        let pem = try WorkloadAPIResponses.encode { () throws(SPIFFEError) in try svid.pemEncoded() }
        var certificate = Envoy_Extensions_TransportSockets_Tls_V3_TlsCertificate()
        certificate.certificateChain = inline(pem.certificates)
        certificate.privateKey = inline(pem.privateKey)
        return certificate
    }

    private func inline(_ text: String) -> Envoy_Config_Core_V3_DataSource {
        var source = Envoy_Config_Core_V3_DataSource()
        source.inlineBytes = Data(text.utf8)
        return source
    }
}
