/// Every bound the SPIFFE module enforces on its inputs, in one place.
public enum Limits {
    /// The SPIFFE ID spec requires support up to 2048 bytes; longer IDs are rejected
    /// (SPIRE's SPI-01-003 safety tests reject them too).
    public static let spiffeIDBytesMax = 2048
    /// A trust domain name is a host name: at most 255 bytes.
    public static let trustDomainBytesMax = 255
    /// A Workload API endpoint address (`unix:///path`) is bounded by the Unix socket path limit
    /// and a little room for the scheme.
    public static let endpointAddressBytesMax = 4096
    /// Certificates in one SVID chain or one bundle. Deep or huge chains are a known DoS vector
    /// (SPIRE 1.14.2, x509pop), so the bound is checked before any signature is verified.
    public static let certificatesPerChainMax = 16
    public static let certificatesPerBundleMax = 1024
    /// Bytes of PEM or DER input accepted in one parse call.
    public static let encodedCertificatesBytesMax = 4 * 1024 * 1024
    /// Bytes of a JWT in compact form, and of a JSON bundle document.
    public static let jwtBytesMax = 64 * 1024
    public static let bundleJSONBytesMax = 4 * 1024 * 1024
    /// Keys in one JWT bundle or SPIFFE bundle.
    public static let bundleKeysMax = 1024
    /// Trust domains in one SPIFFE bundle map (SPIFFE_Trust_Domain_and_Bundle.md §5).
    public static let bundleMapTrustDomainsMax = 1024
    /// Nesting depth of any JSON document the module parses (JWT header and claims, JWKs,
    /// bundles, bundle maps). A bundle map needs 6 levels; the rest is room for nested claims.
    public static let jsonDepthMax = 32
    /// RSA moduli longer than 8192 bits are rejected before any arithmetic, because verifying
    /// with a huge key is a CPU DoS (SPIRE 1.14.2).
    public static let rsaModulusBytesMax = 1024
    /// Audience values in one JWT-SVID, minted or parsed.
    public static let jwtAudiencesMax = 64
    /// Clock-skew allowance when checking a JWT-SVID's `exp`, `nbf` and `iat` against the
    /// validation time (JWT-SVID.md §3 allows "a small leeway"). go-jose's default, which
    /// go-spiffe inherits, is 60 s; we take half that, so a token is accepted at most 30 s after
    /// `exp`, and `nbf`/`iat` may be at most 30 s ahead of the validation time.
    public static let jwtClockSkewLeewaySeconds: Int64 = 30
    /// Bytes of one DER PKCS#8 private key (PEM may be twice this). An 8192-bit RSA key is about
    /// 4.9 KiB, so this leaves room without letting a caller hand us megabytes to decode.
    public static let privateKeyBytesMax = 16 * 1024
}
