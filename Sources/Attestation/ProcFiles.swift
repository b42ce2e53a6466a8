/// Parsers for the `/proc/<pid>` files unix workload attestation reads. Pure: the runtime reads
/// the files and hands the text here, so the tricky parts are tested without a live process.

/// What attestation needs from `/proc/<pid>/stat`.
public struct ProcStat: Sendable, Hashable {
    public let pid: Int32
    /// Field 22: the process start time in clock ticks since boot. Together with the PID it
    /// names one process for its whole life, which is how SPIRE detects PID reuse.
    public let startTime: UInt64

    /// Parses the stat line. The command name (field 2) is in parentheses and may itself hold
    /// spaces and parentheses, so fields are counted from the **last** `)`.
    public init(parsing text: String) throws(AttestationError) {
        guard text.utf8.count <= Limits.procFileBytesMax else {
            throw AttestationError(.malformedProcFile, "/proc stat is larger than \(Limits.procFileBytesMax) bytes")
        }
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close else {
            throw AttestationError(.malformedProcFile, "/proc stat has no command name in parentheses")
        }
        guard let pid = Int32(text[..<open].trimmingSpaces()) else {
            throw AttestationError(.malformedProcFile, "/proc stat does not start with a PID")
        }
        // After ")" come fields 3, 4, …; field 22 is the 20th of them.
        let rest = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        guard rest.count >= 20, let startTime = UInt64(rest[19].trimmingSpaces()) else {
            throw AttestationError(.malformedProcFile, "/proc stat has no start time (field 22)")
        }
        self.pid = pid
        self.startTime = startTime
    }
}

/// What attestation needs from `/proc/<pid>/status`.
public struct ProcStatus: Sendable, Hashable {
    /// Real, effective, saved and filesystem IDs, in the kernel's order.
    public let uids: [UInt32]
    public let gids: [UInt32]
    /// Supplementary groups (`Groups:`), which may be empty.
    public let groups: [UInt32]

    public var effectiveUID: UInt32 { uids[1] }
    public var effectiveGID: UInt32 { gids[1] }

    public init(parsing text: String) throws(AttestationError) {
        guard text.utf8.count <= Limits.procFileBytesMax else {
            throw AttestationError(.malformedProcFile, "/proc status is larger than \(Limits.procFileBytesMax) bytes")
        }
        var uids: [UInt32]?
        var gids: [UInt32]?
        var groups: [UInt32]?
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            guard key == "Uid" || key == "Gid" || key == "Groups" else { continue }
            let fields = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            var numbers: [UInt32] = []
            for field in fields {
                guard let number = UInt32(field) else {
                    throw AttestationError(.malformedProcFile, "/proc status \(key) line has \"\(field)\"")
                }
                numbers.append(number)
            }
            switch key {
            case "Uid": uids = numbers
            case "Gid": gids = numbers
            default: groups = numbers
            }
        }
        guard let uids, uids.count == 4, let gids, gids.count == 4 else {
            throw AttestationError(.malformedProcFile, "/proc status lacks four Uid and Gid values")
        }
        guard (groups?.count ?? 0) <= Limits.supplementaryGroupsMax else {
            throw AttestationError(.malformedProcFile, "/proc status lists too many groups")
        }
        self.uids = uids
        self.gids = gids
        self.groups = groups ?? []
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var result = self
        while result.first == " " { result.removeFirst() }
        while result.last == " " || result.last == "\n" { result.removeLast() }
        return result
    }
}
