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
}
