extension Duration {
    /// The duration in (fractional) seconds, for Foundation dates and rate arithmetic.
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
