import SPIFFE
import Wire

/// SPIRE's `-data` document for `entry create|update`: `{"entries": [ … ]}` whose entries use
/// the field names of SPIRE's `common.RegistrationEntry` (`spiffe_id`, `parent_id`, `selectors`,
/// `x509_svid_ttl`, `entryExpiry`, …), decoded like Go's `encoding/json` does it (member names
/// match case-insensitively, unknown members are ignored, `null` leaves the zero value).
enum EntryDataFile {
    static func entries(from bytes: [UInt8]) throws(CLIFailure) -> [Spire_Api_Types_Entry] {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: bytes, errorCode: .malformedBundle)
        } catch {
            throw CLIFailure("invalid entries JSON: \(error.reason)")
        }
        if document == .null { return [] }
        guard let root = document.objectValue else {
            throw typeError(document, field: "", goType: "common.RegistrationEntries")
        }
        guard let list = member(root, "entries"), list != .null else { return [] }
        guard let items = list.arrayValue else { throw typeError(list, field: "entries", goType: "[]*common.RegistrationEntry") }
        guard items.count <= Limits.entriesPerRequestMax else {
            throw CLIFailure("the entries file holds \(items.count) entries; at most \(Limits.entriesPerRequestMax) are allowed")
        }
        var entries: [Spire_Api_Types_Entry] = []
        for item in items where item != .null {
            guard let fields = item.objectValue else {
                throw typeError(item, field: "entries", goType: "common.RegistrationEntry")
            }
            entries.append(try entry(fields))
        }
        return entries
    }

    /// One entry, checked as SPIRE's `api.RegistrationEntryToProto` checks it.
    private static func entry(_ fields: [String: JSONValue]) throws(CLIFailure) -> Spire_Api_Types_Entry {
        var entry = Spire_Api_Types_Entry()
        do {
            entry.spiffeID = FlagValues.proto(try SPIFFEID(parsing: try string(fields, "spiffe_id")))
        } catch let error as SPIFFEIDError {
            throw CLIFailure("invalid SPIFFE ID: \(error.reason)")
        } catch let error as CLIFailure {
            throw error
        } catch {
            throw CLIFailure("invalid SPIFFE ID: \(error)")
        }
        do {
            entry.parentID = FlagValues.proto(try SPIFFEID(parsing: try string(fields, "parent_id")))
        } catch let error as SPIFFEIDError {
            throw CLIFailure("invalid parent ID: \(error.reason)")
        } catch let error as CLIFailure {
            throw error
        } catch {
            throw CLIFailure("invalid parent ID: \(error)")
        }
        for trustDomain in try strings(fields, "federates_with") {
            do {
                entry.federatesWith.append(try TrustDomain(parsing: trustDomain).name)
            } catch {
                throw CLIFailure("invalid federated trust domain: \(error.reason)")
            }
        }
        entry.id = try string(fields, "entry_id")
        entry.selectors = try selectors(fields)
        entry.x509SvidTtl = Int32(try integer(fields, "x509_svid_ttl", range: Int64(Int32.min)...Int64(Int32.max), goType: "int32"))
        entry.jwtSvidTtl = Int32(try integer(fields, "jwt_svid_ttl", range: Int64(Int32.min)...Int64(Int32.max), goType: "int32"))
        entry.admin = try bool(fields, "admin")
        entry.downstream = try bool(fields, "downstream")
        entry.storeSvid = try bool(fields, "store_svid")
        entry.expiresAt = try integer(fields, "entryExpiry", range: Int64.min...Int64.max, goType: "int64")
        entry.dnsNames = try strings(fields, "dns_names")
        entry.revisionNumber = try integer(fields, "revision_number", range: Int64.min...Int64.max, goType: "int64")
        entry.hint = try string(fields, "hint")
        entry.createdAt = try integer(fields, "created_at", range: Int64.min...Int64.max, goType: "int64")
        return entry
    }

    private static func selectors(_ fields: [String: JSONValue]) throws(CLIFailure) -> [Spire_Api_Types_Selector] {
        guard let value = member(fields, "selectors"), value != .null else { return [] }
        guard let items = value.arrayValue else { throw typeError(value, field: "selectors", goType: "[]*common.Selector") }
        var selectors: [Spire_Api_Types_Selector] = []
        for item in items where item != .null {
            guard let object = item.objectValue else { throw typeError(item, field: "selectors", goType: "common.Selector") }
            var selector = Spire_Api_Types_Selector()
            selector.type = try string(object, "type", path: "selectors.type")
            selector.value = try string(object, "value", path: "selectors.value")
            selectors.append(selector)
        }
        return selectors
    }

    /// Go matches a member to a field exactly first, then case-insensitively.
    private static func member(_ fields: [String: JSONValue], _ name: String) -> JSONValue? {
        if let exact = fields[name] { return exact }
        return fields.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    private static func string(_ fields: [String: JSONValue], _ name: String, path: String? = nil) throws(CLIFailure) -> String {
        guard let value = member(fields, name), value != .null else { return "" }
        guard let text = value.stringValue else { throw typeError(value, field: path ?? name, goType: "string") }
        return text
    }

    private static func strings(_ fields: [String: JSONValue], _ name: String) throws(CLIFailure) -> [String] {
        guard let value = member(fields, name), value != .null else { return [] }
        guard let items = value.arrayValue else { throw typeError(value, field: name, goType: "[]string") }
        var texts: [String] = []
        for item in items {
            if item == .null { texts.append(""); continue }
            guard let text = item.stringValue else { throw typeError(item, field: name, goType: "string") }
            texts.append(text)
        }
        return texts
    }

    private static func bool(_ fields: [String: JSONValue], _ name: String) throws(CLIFailure) -> Bool {
        guard let value = member(fields, name), value != .null else { return false }
        guard case .bool(let flag) = value else { throw typeError(value, field: name, goType: "bool") }
        return flag
    }

    private static func integer(
        _ fields: [String: JSONValue], _ name: String, range: ClosedRange<Int64>, goType: String
    ) throws(CLIFailure) -> Int64 {
        guard let value = member(fields, name), value != .null else { return 0 }
        guard let number = value.numberValue?.int64Value, range.contains(number) else {
            throw typeError(value, field: name, goType: goType)
        }
        return number
    }

    /// Go's `json.UnmarshalTypeError` wording.
    private static func typeError(_ value: JSONValue, field: String, goType: String) -> CLIFailure {
        let kind: String =
            switch value {
            case .null: "null"
            case .bool: "bool"
            case .number(let number): "number \(number.literal)"
            case .string: "string"
            case .array: "array"
            case .object: "object"
            }
        let location = field.isEmpty ? "" : " into Go struct field RegistrationEntry.entries.\(field)"
        return CLIFailure("json: cannot unmarshal \(kind)\(location) of type \(goType)")
    }
}
