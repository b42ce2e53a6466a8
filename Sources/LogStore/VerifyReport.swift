/// One problem found by `LogStore.verify()`.
public enum VerifyIssue: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// A log record that fails its checksum or cannot be decoded.
    case logRecord(index: UInt64, defect: String)
    /// A log key that is not a valid 8-byte index (reported at the index expected there).
    case logKey(expected: UInt64)
    /// Indexes jump from `expected` to `found`: the records between are missing.
    case logGap(expected: UInt64, found: UInt64)
    /// A term lower than the one before it, which Raft never produces.
    case termRegression(index: UInt64, term: UInt64, previousTerm: UInt64)
    /// A projection value that fails its checksum.
    case projectionValue(table: String, key: [UInt8], defect: String)
    /// A fixed record (hard state, applied index, snapshot, format) that fails its checksum.
    case metadata(name: String, defect: String)
    /// The hard state's commit index points past the last stored entry.
    case commitBeyondLog(commit: UInt64, lastIndex: UInt64)

    /// The log index this issue makes untrustworthy, if it concerns the log.
    public var logIndex: UInt64? {
        switch self {
        case .logRecord(let index, _): return index
        case .logKey(let expected): return expected
        case .logGap(let expected, _): return expected
        case .termRegression(let index, _, _): return index
        case .commitBeyondLog(_, let lastIndex): return lastIndex + 1
        case .projectionValue, .metadata: return nil
        }
    }

    public var description: String {
        switch self {
        case .logRecord(let index, let defect): return "log[\(index)]: \(defect)"
        case .logKey(let expected): return "log key near \(expected) is not an 8-byte index"
        case .logGap(let expected, let found): return "log gap: expected \(expected), found \(found)"
        case .termRegression(let index, let term, let previousTerm):
            return "log[\(index)]: term \(term) below previous term \(previousTerm)"
        case .projectionValue(let table, let key, let defect):
            return "table \(table): row \(keyText(key)): \(defect)"
        case .metadata(let name, let defect): return "\(name): \(defect)"
        case .commitBeyondLog(let commit, let lastIndex):
            return "hard state commit \(commit) is past the last entry \(lastIndex)"
        }
    }
}

/// The result of a full scan. Issues are listed in scan order (log first, then metadata, then
/// projection tables), at most `Limits.verifyIssuesMax` of them.
public struct VerifyReport: Equatable, Sendable {
    public var issues: [VerifyIssue] = []
    public var logRecordsChecked = 0
    public var projectionValuesChecked = 0

    public var isClean: Bool { issues.isEmpty }

    /// The lowest log index any issue makes untrustworthy.
    public var firstBadLogIndex: UInt64? { issues.compactMap(\.logIndex).min() }

    /// The first projection value that failed, as (table, key).
    public var firstBadProjectionValue: (table: String, key: [UInt8])? {
        for issue in issues {
            if case .projectionValue(let table, let key, _) = issue { return (table, key) }
        }
        return nil
    }

    mutating func add(_ issue: VerifyIssue) {
        if issues.count < Limits.verifyIssuesMax { issues.append(issue) }
    }
}
