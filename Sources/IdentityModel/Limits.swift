import SPIFFE

/// Every bound the IdentityModel module enforces, in one place.
///
/// Events are decoded from the replicated log and from peers, so every repeated field and every
/// string is bounded before it can grow memory. The codec checks the same bounds when encoding,
/// so the leader can never append an event that a follower would refuse to decode.
public enum Limits {
    /// Bytes of one encoded `EventRecord`. A federated bundle with many authorities is the
    /// largest event; this leaves room for `SPIFFE.Limits.certificatesPerBundleMax` CA
    /// certificates of a few kilobytes each.
    public static let eventBytesMax = 4 * 1024 * 1024
    /// Nesting depth handed to the protobuf decoder. Our schema nests at most four levels
    /// (record → event → entry → selector); the default of 100 would only help an attacker.
    public static let messageDepthMax = 8

    /// A selector type (`unix`, `k8s`, `docker`): a plugin name.
    public static let selectorTypeBytesMax = 64
    /// A selector value (`uid:1000`, `pod-label:app:web`, an image digest…).
    public static let selectorValueBytesMax = 1024
    /// Selectors on one registration entry.
    public static let selectorsPerEntryMax = 64
    /// Selectors an agent's node attestation may produce (cloud tags and labels add up).
    public static let selectorsPerAgentMax = 512

    /// Registration entry IDs follow SPIRE: at most 255 bytes of printable ASCII.
    public static let entryIDBytesMax = 255
    public static let dnsNamesPerEntryMax = 64
    /// A DNS name is at most 253 bytes (RFC 1035 §2.3.4, without the trailing dot).
    public static let dnsNameBytesMax = 253
    public static let federatesWithPerEntryMax = 64
    public static let hintBytesMax = 1024

    /// A server's node name inside the cluster (host-name-like).
    public static let nodeNameBytesMax = 253
    /// A cluster peer address, `host:port`.
    public static let clusterAddressBytesMax = 512
    /// An authority ID: a hex subject key identifier or a JWT `kid`.
    public static let authorityIDBytesMax = 255
    /// A node attestor name (`join_token`, `x509pop`, `k8s_psat`).
    public static let attestationTypeBytesMax = 64

    /// X.509 serial numbers: RFC 5280 §4.1.2.2 allows 20 octets; one more leaves room for the
    /// leading zero octet of a DER INTEGER whose top bit is set.
    public static let serialNumberBytesMax = 21
    /// One DER certificate or public key.
    public static let certificateDERBytesMax = 64 * 1024
    public static let publicKeyDERBytesMax = 16 * 1024

    /// JWT-SVID audiences per request, and bytes per audience.
    public static let audiencesPerJWTSVIDMax = 32
    public static let audienceBytesMax = 1024

    /// Certificates between an upstream-signed CA and its upstream roots, and upstream roots.
    public static let upstreamChainCertificatesMax = 8
    public static let upstreamRootsMax = 16

    /// Authorities in one federated bundle, matching the SPIFFE module's bundle bounds.
    public static let x509AuthoritiesPerBundleMax = SPIFFE.Limits.certificatesPerBundleMax
    public static let jwtAuthoritiesPerBundleMax = SPIFFE.Limits.bundleKeysMax
}
