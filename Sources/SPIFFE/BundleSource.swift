/// Something that can hand out the X.509 bundle of a trust domain: a single bundle, a bundle
/// set, or a live source fed by the Workload API. Verification code depends only on this, never
/// on where bundles come from (go-spiffe's `x509bundle.Source`).
public protocol X509BundleSource {
    /// The bundle for `trustDomain`, or nil when none is known (the SVID is then untrusted).
    func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle?
}

extension X509Bundle: X509BundleSource {
    /// A bundle is a source of itself, for its own trust domain only.
    public func x509Bundle(for trustDomain: TrustDomain) -> X509Bundle? {
        trustDomain == self.trustDomain ? self : nil
    }
}
