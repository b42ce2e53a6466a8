import SPIFFE
import Testing

/// Asserts that `body` throws a `SPIFFEError` with exactly `code` and, when given, a reason that
/// contains `fragment`. The fragment pins the rule: several rules share a code (`invalidLeaf`), and
/// a negative test must fail if its own check — not a neighbour's — were removed.
func expectX509Error<T>(
    _ code: SPIFFEError.Code, reasonContains fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> T
) {
    do {
        let value = try body()
        Issue.record("expected SPIFFEError \(code), got a value: \(value)", sourceLocation: sourceLocation)
    } catch let error as SPIFFEError {
        check(error, code: code, fragment: fragment, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SPIFFEError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

/// `expectX509Error` for async bodies (verification).
func expectX509Error<T>(
    _ code: SPIFFEError.Code, reasonContains fragment: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
    do {
        let value = try await body()
        Issue.record("expected SPIFFEError \(code), got a value: \(value)", sourceLocation: sourceLocation)
    } catch let error as SPIFFEError {
        check(error, code: code, fragment: fragment, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected SPIFFEError \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

private func check(_ error: SPIFFEError, code: SPIFFEError.Code, fragment: String?, sourceLocation: SourceLocation) {
    #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    if let fragment {
        #expect(error.reason.contains(fragment), "reason lacks \"\(fragment)\": \(error)", sourceLocation: sourceLocation)
    }
}
