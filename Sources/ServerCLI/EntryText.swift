import Wire

/// SPIRE's entry text (`cmd/spire-server/cli/entry/util.go` printEntry and the verbs' pretty
/// printers): the same labels, column and order, so scripts that grep it keep working.
enum EntryText {
    static func block(_ entry: Spire_Api_Types_Entry) -> String {
        var text = ""
        func line(_ label: String, _ value: String) {
            text += label + String(repeating: " ", count: max(0, 24 - label.count)) + ": " + value + "\n"
        }
        line("Entry ID", entry.id.isEmpty ? "(none)" : entry.id)
        line("SPIFFE ID", entry.hasSpiffeID ? FlagValues.idString(entry.spiffeID) : "")
        line("Parent ID", entry.hasParentID ? FlagValues.idString(entry.parentID) : "")
        line("Revision", String(entry.revisionNumber))
        if entry.downstream { line("Downstream", "true") }
        line("X509-SVID TTL", entry.x509SvidTtl == 0 ? "default" : String(entry.x509SvidTtl))
        line("JWT-SVID TTL", entry.jwtSvidTtl == 0 ? "default" : String(entry.jwtSvidTtl))
        if entry.expiresAt != 0 { line("Expiration time", GoFormat.utcTime(entry.expiresAt)) }
        for selector in entry.selectors { line("Selector", "\(selector.type):\(selector.value)") }
        for trustDomain in entry.federatesWith { line("FederatesWith", trustDomain) }
        for dnsName in entry.dnsNames { line("DNS name", dnsName) }
        if entry.admin { line("Admin", "true") }
        if entry.storeSvid { line("StoreSvid", "true") }
        if !entry.hint.isEmpty { line("Hint", entry.hint) }
        return text + "\n"
    }

    /// `entry create|update`: successes to stdout, then each failure to stderr with the entry that
    /// was sent; any failure fails the command.
    static func printResults(_ results: [Spire_Api_Server_Entry_V1_EntryResult], verb: String, to console: Console) throws {
        let failed = results.filter { $0.status.code != 0 }
        for result in results where result.status.code == 0 { console.write(block(result.entry)) }
        for result in failed {
            console.writeError(
                "Failed to \(verb) the following entry (code: \(GoStatusCode.name(Int(result.status.code))), "
                    + "msg: \(GoFormat.quoted(result.status.message))):\n")
            console.writeError(block(result.entry))
        }
        if !failed.isEmpty { throw CLIFailure("failed to \(verb) one or more entries") }
    }

    /// `entry show`: `Found N entries` then each block.
    static func printList(_ entries: [Spire_Api_Types_Entry], to console: Console) {
        console.line("Found \(entries.count) \(GoFormat.plural(entries.count, "entry", "entries"))")
        for entry in entries { console.write(block(entry)) }
    }

    /// `entry delete`, including SPIRE's missing final newline on the summary.
    static func printDeleteResults(_ results: [Spire_Api_Server_Entry_V1_BatchDeleteEntryResponse.Result], to console: Console) throws {
        let succeeded = results.filter { $0.status.code == 0 }
        let failed = results.filter { $0.status.code != 0 }
        for result in succeeded { console.write("Deleted entry with ID: \(result.id)\n") }
        if !succeeded.isEmpty { console.write("\n\n") }
        for result in failed {
            console.writeError(
                "Failed to delete entry with ID \(result.id) (code: \(GoStatusCode.name(Int(result.status.code))), "
                    + "msg: \(GoFormat.quoted(result.status.message)))\n")
        }
        guard failed.isEmpty else {
            console.write("\n\n")
            console.write(
                succeeded.isEmpty
                    ? "Failed to delete \(failed.count) entries"
                    : "Deleted \(succeeded.count) entries successfully, but failed to delete \(failed.count) entries")
            throw CLIFailure("failed to delete one or more entries")
        }
        console.write("Deleted \(succeeded.count) entries successfully")
    }

    /// SPIRE's `SortTypesEntries`: selectors sorted inside each entry, then entries by SPIFFE ID,
    /// parent ID, TTLs and selectors (byte order, like Go's `strings.Compare`).
    static func sorted(_ entries: [Spire_Api_Types_Entry]) -> [Spire_Api_Types_Entry] {
        let withSortedSelectors = entries.map { entry in
            var entry = entry
            entry.selectors.sort { selectorPrecedes($0, $1) }
            return entry
        }
        return withSortedSelectors.sorted(by: entryPrecedes)
    }

    private static func bytesPrecede(_ a: String, _ b: String) -> Bool? {
        a == b ? nil : a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    private static func selectorPrecedes(_ a: Spire_Api_Types_Selector, _ b: Spire_Api_Types_Selector) -> Bool {
        bytesPrecede(a.type, b.type) ?? bytesPrecede(a.value, b.value) ?? false
    }

    private static func entryPrecedes(_ a: Spire_Api_Types_Entry, _ b: Spire_Api_Types_Entry) -> Bool {
        if let order = bytesPrecede(a.spiffeID.trustDomain, b.spiffeID.trustDomain)
            ?? bytesPrecede(a.spiffeID.path, b.spiffeID.path)
            ?? bytesPrecede(a.parentID.trustDomain, b.parentID.trustDomain)
            ?? bytesPrecede(a.parentID.path, b.parentID.path)
        {
            return order
        }
        if a.x509SvidTtl != b.x509SvidTtl { return a.x509SvidTtl < b.x509SvidTtl }
        if a.jwtSvidTtl != b.jwtSvidTtl { return a.jwtSvidTtl < b.jwtSvidTtl }
        if a.selectors.count != b.selectors.count { return a.selectors.count < b.selectors.count }
        for (left, right) in zip(a.selectors, b.selectors) where left != right {
            return selectorPrecedes(left, right)
        }
        return false
    }
}
