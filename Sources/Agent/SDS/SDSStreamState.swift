import Wire

/// The per-stream bookkeeping of SPIRE's StreamSecrets loop (SPIFFE-WIRE §3.2), without I/O:
/// - `version` counts provider states seen by this stream; the state at subscription is 1;
/// - a request whose nonce is set and is not the last one sent is stale and ignored;
/// - a request without `node` reuses the last node (Envoy's `set_node_on_first_message_only`);
/// - a send is due on the first request, on a change of the resource-name set, and on every
///   provider change once something was requested; a plain ACK or NACK sends nothing.
struct SDSStreamState {
    private(set) var version: UInt64 = 1
    private(set) var lastNonce = ""
    private(set) var node: Envoy_Config_Core_V3_Node?
    private(set) var lastRequest: Envoy_Service_Discovery_V3_DiscoveryRequest?
    /// NACKs seen (a matching nonce with an empty or different version, or error_detail).
    private(set) var rejections = 0

    /// Takes a request in; true when a response is due.
    mutating func receive(_ request: Envoy_Service_Discovery_V3_DiscoveryRequest) -> Bool {
        if !request.responseNonce.isEmpty && request.responseNonce != lastNonce { return false }
        if request.hasNode { node = request.node }
        if !request.responseNonce.isEmpty
            && (request.hasErrorDetail || request.versionInfo.isEmpty || request.versionInfo != String(version))
        {
            rejections += 1
        }
        let namesChanged = lastRequest.map { Set($0.resourceNames) != Set(request.resourceNames) } ?? true
        lastRequest = request
        return namesChanged
    }

    /// The provider's state changed; true when a response is due.
    mutating func providerChanged() -> Bool {
        version += 1
        return lastRequest != nil
    }

    mutating func sent(nonce: String) {
        precondition(nonce.utf8.count == 8, "SDS nonces are 8 hex characters")
        lastNonce = nonce
    }

    static func makeNonce() -> String {
        let value = UInt32.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 8 - hex.count) + hex
    }
}
