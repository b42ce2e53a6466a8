/// Every bound the agent's workload endpoint enforces, in one place (STYLE.md "Limits").
public enum Limits {
    /// Concurrent HTTP/2 streams per connection on the Workload API socket.
    public static let streamsPerConnectionMax = 128
    /// Long-lived streams (Workload API watches and SDS streams) open at once, across all callers.
    public static let openStreamsMax = 4_096
    /// Largest request message accepted (gRPC's usual 4 MiB default, set explicitly).
    public static let requestMessageBytesMax = 4 * 1024 * 1024
    /// Largest response message sent. grpc-swift has no send limit, so handlers check it.
    public static let responseMessageBytesMax = 4 * 1024 * 1024
    /// Subscribers one `IdentityChangeBroadcaster` holds at once.
    public static let changeSubscribersMax = 8_192
    /// SDS requests one stream may have queued before it is handled; Envoy sends one at a time.
    public static let sdsPendingRequestsMax = 16
    /// Resource names in one SDS request.
    public static let sdsResourceNamesMax = 256
    /// Audiences in one FetchJWTSVID request.
    public static let jwtAudiencesMax = 32
    /// Bytes of one audience value.
    public static let jwtAudienceBytesMax = 1_024

    /// Authorized entries the agent keeps from sync; a larger set is refused (the stream ends
    /// and is retried), since every entry may cost a key and a certificate.
    public static let syncEntriesMax = 50_000
    /// Entries or deletions one sync message may carry.
    public static let syncMessageEntriesMax = 50_000
    /// Federated bundles the agent keeps.
    public static let federatedBundlesMax = 256
    /// Largest sync message accepted from the server.
    public static let syncMessageBytesMax = 64 * 1024 * 1024
    /// CSRs in one BatchNewX509SVID call (SPIRE's agent batches 500 at most).
    public static let svidBatchMax = 500
    /// Cached JWT-SVIDs (SPIRE's `jwt_svid_cache_max_size` default is 1000).
    public static let jwtSVIDCacheMax = 1_000
    /// Largest certificate chain accepted in an SVID from the server.
    public static let svidChainCertificatesMax = 16
    /// Bytes of a persisted agent SVID or bundle file read at start.
    public static let persistedFileBytesMax = 1024 * 1024

    /// Bytes of a bootstrap trust bundle (`trust_bundle_path` or the `trust_bundle_url` body).
    public static let bootstrapBundleBytesMax = 1024 * 1024
    /// Longest one `trust_bundle_url` download may take, connection and TLS included.
    public static let bootstrapDownloadTimeout = Duration.seconds(30)
    /// How long the agent keeps retrying an unreachable `trust_bundle_url` at start (SPIRE's
    /// bootstrap backoff gives up after one minute).
    public static let bootstrapRetryWindow = Duration.seconds(60)

    /// Addresses kept from one DNS name of `server_address` (each is a server to fail over to).
    public static let resolvedAddressesPerNameMax = 16
    /// HTTP/2 keepalive ping interval on the connection to the server: above the 5-minute
    /// minimum grpc-swift servers enforce by default, so the server never counts a ping strike.
    public static let serverKeepaliveInterval = Duration.seconds(330)
}
