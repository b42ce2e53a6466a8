#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftASN1
@_spi(FixedExpiryValidationTime) import X509

extension X509SVID {
    /// The outcome of a successful verification: who the peer is, and the path that proves it.
    public struct VerifiedChain: Hashable, Sendable {
        /// The leaf's SPIFFE ID.
        public let id: SPIFFEID
        /// Leaf first, ending at an authority of the leaf trust domain's bundle. swift-certificates
        /// stops at the first path that meets policy, so there is one path where go-spiffe's
        /// `x509svid.Verify` may return several.
        public let certificates: [Certificate]
    }

    /// Verifies a peer's X509-SVID chain (go-spiffe's `x509svid.Verify`, X509-SVID.md §5,
    /// SPIFFE-WIRE §2.2), at `time`.
    ///
    /// 1. The chain length is bounded before any work (`Limits.certificatesPerChainMax`).
    /// 2. The leaf and signing-certificate rules of `x509svid.ParseRaw` hold (`X509SVIDRules`).
    /// 3. Every presented certificate is valid at `time`; failures name the certificate.
    /// 4. The bundle is the one of the **leaf's own trust domain**: a chain that is sound under
    ///    another trust domain's authorities proves nothing about this ID.
    /// 5. RFC 5280 path validation at `time` against that bundle's authorities, with the presented
    ///    certificates after the leaf as intermediates, using swift-certificates' `Verifier`.
    /// 6. On the path found, a signing certificate (intermediate or root) that carries a SPIFFE ID
    ///    must carry one without a path (X509-SVID.md §4.1).
    ///
    /// `time` is a parameter, never read from a clock, so replays and simulations are exact.
    ///
    /// The function is `async` only because swift-certificates' `Verifier.validate` is; it does no
    /// I/O and never suspends for anything but that call. It is `nonisolated(nonsending)`, so it
    /// runs on the caller's executor and `bundles` need not be `Sendable`.
    nonisolated(nonsending)
    public static func verify(
        chain: [Certificate], bundles: some X509BundleSource, at time: Date
    ) async throws(SPIFFEError) -> VerifiedChain {
        try X509SVIDRules.checkChainLength(chain.count)
        let id = try X509SVIDRules.checkLeaf(chain[0])
        try X509SVIDRules.checkSigningCertificates(chain)
        try checkValidity(of: chain, at: time)
        let bundle = try bundle(for: id, in: bundles)

        var verifier = Verifier(rootCertificates: CertificateStore(bundle.authorities)) {
            RFC5280Policy(fixedExpiryValidationTime: time)
            SPIFFESigningCertificatePolicy()
        }
        let result = await verifier.validate(leaf: chain[0], intermediates: CertificateStore(chain.dropFirst()))
        switch result {
        case .validCertificate(let path):
            return VerifiedChain(id: id, certificates: Array(path))
        case .couldNotValidate(let failures):
            throw SPIFFEError(.chainVerificationFailed, failureReason(failures, trustDomain: id.trustDomain))
        }
    }

    /// Verifies concatenated DER certificates, leaf first, as a TLS peer or the Workload API
    /// presents them.
    nonisolated(nonsending)
    public static func verify(
        chainDER: [UInt8], bundles: some X509BundleSource, at time: Date
    ) async throws(SPIFFEError) -> VerifiedChain {
        let chain = try CertificateCoding.certificates(der: chainDER)
        return try await verify(chain: chain, bundles: bundles, at: time)
    }

    /// Verifies this SVID's own chain, e.g. before serving it, to catch an SVID whose authority
    /// has left the bundle.
    nonisolated(nonsending)
    public func verify(bundles: some X509BundleSource, at time: Date) async throws(SPIFFEError) -> VerifiedChain {
        try await Self.verify(chain: certificates, bundles: bundles, at: time)
    }

    // MARK: - Steps

    /// RFC 5280 §6.1.3 (a)(2) for each presented certificate, reported per position. The
    /// `Verifier` checks this again on the whole path (including the root) but only says "no
    /// valid chain"; this gives the operator the certificate and the direction.
    static func checkValidity(of chain: [Certificate], at time: Date) throws(SPIFFEError) {
        for (position, certificate) in chain.enumerated() {
            if time < certificate.notValidBefore {
                throw SPIFFEError(
                    .certificateNotYetValid,
                    "certificate \(position) is not valid before \(certificate.notValidBefore), checked at \(time)")
            }
            if time > certificate.notValidAfter {
                throw SPIFFEError(
                    .certificateExpired,
                    "certificate \(position) expired at \(certificate.notValidAfter), checked at \(time)")
            }
        }
    }

    static func bundle(for id: SPIFFEID, in bundles: some X509BundleSource) throws(SPIFFEError) -> X509Bundle {
        guard let bundle = bundles.x509Bundle(for: id.trustDomain) else {
            throw SPIFFEError(.noBundle, "no X.509 bundle for trust domain \(id.trustDomain) of \(id)")
        }
        // A source that answers with another trust domain's bundle must not make that domain's
        // authorities trusted for this ID.
        guard bundle.trustDomain == id.trustDomain else {
            throw SPIFFEError(
                .noBundle, "the bundle source returned trust domain \(bundle.trustDomain)'s bundle for \(id.trustDomain)")
        }
        return bundle
    }

    static func failureReason(_ failures: [CertificateValidationResult.PolicyFailure], trustDomain: TrustDomain) -> String {
        guard !failures.isEmpty else {
            return "no chain from certificate 0 (leaf) to an authority of trust domain \(trustDomain)'s bundle"
        }
        // Candidate paths are few (the chain is bounded), but keep the message bounded too.
        let reasons = failures.prefix(3).map { "\($0.policyFailureReason)" }
        return "every chain to trust domain \(trustDomain)'s bundle fails policy: " + reasons.joined(separator: "; ")
    }
}

/// X509-SVID.md §4.1: "If a signing certificate has a SPIFFE ID, the ID MUST have no path" —
/// checked on every certificate of a candidate path after the leaf, trust anchor included.
///
/// It also declares the SAN and EKU extensions as handled, so a critical SAN (required when the
/// subject is empty, X509-SVID.md §2) or a critical EKU does not make the `Verifier` refuse the
/// chain: the leaf's SAN is enforced by `X509SVIDRules`, and EKU is deliberately not enforced,
/// like go-spiffe (`ExtKeyUsageAny`).
struct SPIFFESigningCertificatePolicy: VerifierPolicy, Sendable {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = [
        .X509ExtensionID.subjectAlternativeName,
        .X509ExtensionID.extendedKeyUsage,
    ]

    func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) -> PolicyEvaluationResult {
        for position in chain.indices.dropFirst() {
            let uris: [String]
            do {
                uris = try X509SVIDRules.uriSANs(of: chain[position], position: position)
            } catch {
                return .failsToMeetPolicy(reason: error.reason)
            }
            for uri in uris where uri.hasPrefix(SPIFFEID.schemePrefix) {
                guard let id = try? SPIFFEID(parsing: uri), id.isTrustDomainID else {
                    return .failsToMeetPolicy(
                        reason: "signing certificate \(position) of the path has SPIFFE ID \(uri), "
                            + "which must be a valid ID with no path (X509-SVID §4.1)")
                }
            }
        }
        return .meetsPolicy
    }
}

extension X509SVID {
    /// The SPIFFE ID of an X509-SVID leaf, after the leaf rules of X509-SVID.md §4/§5 (no chain
    /// check: use it on a leaf whose chain was verified already, e.g. by a TLS handshake).
    public static func spiffeID(of leaf: Certificate) throws(SPIFFEError) -> SPIFFEID {
        try X509SVIDRules.checkLeaf(leaf)
    }
}
