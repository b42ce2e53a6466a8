import SwiftASN1
import X509

/// The X.509 authorities of one trust domain: the roots an X509-SVID of that trust domain must
/// chain to (X509-SVID.md §4, SPIFFE_Trust_Domain_and_Bundle.md).
public struct X509Bundle: Hashable, Sendable {
    public let trustDomain: TrustDomain
    /// Authorities in insertion order, without duplicates.
    public private(set) var authorities: [Certificate]

    public init(trustDomain: TrustDomain, authorities: [Certificate] = []) {
        self.trustDomain = trustDomain
        self.authorities = []
        for authority in authorities { add(authority) }
    }

    /// Parses PEM `CERTIFICATE` blocks (other block types are an error).
    public init(trustDomain: TrustDomain, pemEncoded pem: String) throws(SPIFFEError) {
        try self.init(trustDomain: trustDomain, authorities: CertificateCoding.certificates(pem: pem))
    }

    /// Parses concatenated DER certificates, as the Workload API carries bundles.
    public init(trustDomain: TrustDomain, derEncoded der: [UInt8]) throws(SPIFFEError) {
        try self.init(trustDomain: trustDomain, authorities: CertificateCoding.certificates(der: der))
    }

    public mutating func add(_ authority: Certificate) {
        if !authorities.contains(authority) { authorities.append(authority) }
    }

    public mutating func remove(_ authority: Certificate) {
        authorities.removeAll { $0 == authority }
    }

    public func contains(_ authority: Certificate) -> Bool { authorities.contains(authority) }

    public var isEmpty: Bool { authorities.isEmpty }

    /// Concatenated DER, the Workload API's encoding.
    public func derEncoded() throws(SPIFFEError) -> [UInt8] {
        try CertificateCoding.der(authorities)
    }

    /// PEM `CERTIFICATE` blocks, one per authority.
    public func pemEncoded() throws(SPIFFEError) -> String {
        try CertificateCoding.pem(authorities)
    }
}
