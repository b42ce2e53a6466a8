import ArgumentParser
import SPIFFE
import Wire

extension NameSpecification {
    /// A Go-style flag: one dash, SPIRE's exact spelling (`-spiffeID`).
    static func go(_ name: String) -> NameSpecification { .customLong(name, withSingleDash: true) }
}

/// Turning flag text into API values the way SPIRE's CLI does.
enum FlagValues {
    /// SPIRE's `util.ParseSelector`: split on the first colon, so `k8s:ns:default` is type `k8s`,
    /// value `ns:default`. The server rejects empty halves; the CLI only needs the colon.
    static func selector(_ text: String) throws(CLIFailure) -> Spire_Api_Types_Selector {
        guard let colon = text.firstIndex(of: ":") else {
            throw CLIFailure("selector \"\(text)\" must be formatted as type:value")
        }
        var selector = Spire_Api_Types_Selector()
        selector.type = String(text[..<colon])
        selector.value = String(text[text.index(after: colon)...])
        return selector
    }

    static func selectors(_ texts: [String]) throws(CLIFailure) -> [Spire_Api_Types_Selector] {
        var selectors: [Spire_Api_Types_Selector] = []
        for text in texts { selectors.append(try selector(text)) }
        return selectors
    }

    static func spiffeID(_ text: String) throws(CLIFailure) -> Spire_Api_Types_SPIFFEID {
        do {
            return proto(try SPIFFEID(parsing: text))
        } catch {
            throw CLIFailure(error.description)
        }
    }

    static func proto(_ id: SPIFFEID) -> Spire_Api_Types_SPIFFEID {
        var proto = Spire_Api_Types_SPIFFEID()
        proto.trustDomain = id.trustDomain.name
        proto.path = id.path
        return proto
    }

    static func idString(_ id: Spire_Api_Types_SPIFFEID) -> String {
        "spiffe://\(id.trustDomain)\(id.path)"
    }

    /// Go's `util.CheckedCast[int32]`.
    static func int32(_ value: Int, _ what: String) throws(CLIFailure) -> Int32 {
        guard let narrow = Int32(exactly: value) else {
            throw CLIFailure("invalid value for \(what): value \(value) out of range for int32")
        }
        return narrow
    }

    /// `-matchSelectorsOn` / `-matchFederatesWithOn`.
    static func selectorMatch(_ text: String) throws(CLIFailure) -> Spire_Api_Types_SelectorMatch.MatchBehavior {
        switch text {
        case "exact": .matchExact
        case "any": .matchAny
        case "superset": .matchSuperset
        case "subset": .matchSubset
        default: throw CLIFailure("match behavior \"\(text)\" unknown")
        }
    }

    static func federatesWithMatch(_ text: String) throws(CLIFailure) -> Spire_Api_Types_FederatesWithMatch.MatchBehavior {
        switch text {
        case "exact": .matchExact
        case "any": .matchAny
        case "superset": .matchSuperset
        case "subset": .matchSubset
        default: throw CLIFailure("match behavior \"\(text)\" unknown")
        }
    }
}
