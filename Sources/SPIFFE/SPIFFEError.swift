/// An error from parsing or verifying SPIFFE documents: certificates, keys, bundles, SVIDs.
///
/// Like swift-certificates' `CertificateError`, it is a struct with an extensible code and a
/// human-readable reason; two errors compare equal when their codes do, which keeps tests simple.
public struct SPIFFEError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let inputTooLarge = Code("inputTooLarge")
        public static let malformedCertificate = Code("malformedCertificate")
        public static let malformedKey = Code("malformedKey")
        public static let malformedBundle = Code("malformedBundle")
        public static let malformedJWT = Code("malformedJWT")
        public static let invalidSPIFFEID = Code("invalidSPIFFEID")
        /// An X509-SVID leaf breaks a rule of X509-SVID.md §4 / go-spiffe's x509svid checks.
        public static let invalidLeaf = Code("invalidLeaf")
        /// A signing certificate in the chain is not a CA allowed to sign.
        public static let invalidSigningCertificate = Code("invalidSigningCertificate")
        public static let keyMismatch = Code("keyMismatch")
        public static let noBundle = Code("noBundle")
        public static let chainVerificationFailed = Code("chainVerificationFailed")
        /// A certificate's notAfter is before the verification time (RFC 5280 §6.1.3 (a)(2)).
        public static let certificateExpired = Code("certificateExpired")
        /// A certificate's notBefore is after the verification time (RFC 5280 §6.1.3 (a)(2)).
        public static let certificateNotYetValid = Code("certificateNotYetValid")
        public static let unsupportedAlgorithm = Code("unsupportedAlgorithm")
        public static let invalidJWTHeader = Code("invalidJWTHeader")
        public static let invalidJWTClaims = Code("invalidJWTClaims")
        public static let jwtExpired = Code("jwtExpired")
        public static let audienceMismatch = Code("audienceMismatch")
        public static let unknownKey = Code("unknownKey")
        public static let signatureInvalid = Code("signatureInvalid")
        /// A JWT-SVID's `nbf` or `iat` lies ahead of the validation time (beyond the leeway).
        public static let jwtNotYetValid = Code("jwtNotYetValid")
        /// The bundle key found for a JWT-SVID's `kid` cannot verify its `alg` (e.g. RSA for ES256).
        public static let algorithmKeyMismatch = Code("algorithmKeyMismatch")
        /// A JWK's `kty` or `crv` is not one the module supports; bundle parsers ignore such keys.
        public static let unsupportedKeyType = Code("unsupportedKeyType")
        /// A JSON object names the same member twice (forbidden in bundle maps; rejected everywhere).
        public static let duplicateJSONMember = Code("duplicateJSONMember")
        public static let invalidEndpointAddress = Code("invalidEndpointAddress")
        /// A `load(from:)` helper could not read its file.
        public static let fileUnreadable = Code("fileUnreadable")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }

    public static func == (lhs: SPIFFEError, rhs: SPIFFEError) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
