import CLMDB

/// Startup recovery, full verification and health bookkeeping.
///
/// LMDB commits are atomic (copy-on-write pages, then a meta page flip), so a crash never
/// leaves half a transaction. Bad records therefore come from outside damage: bit rot, a stray
/// write, a restored partial file. The rule from the PAR/CTRL study applies anyway: bad records
/// *after* the last good one (a torn tail) cannot be followed by anything this node
/// acknowledged later, so removing them is safe; a bad record *before* a good one can be a
/// committed entry, so it is reported and the node stays out of votes until repaired.
extension LogStore {
    struct LogScan {
        var report = VerifyReport()
        var tornTailKeys: [[UInt8]] = []
        var tornTailIndexes: [UInt64] = []
    }

    /// Scans the log. With `separateTail`, bad records after the last good one are collected as
    /// a torn tail and the forward scan ends at that good record; `forwardRecordsMax` bounds the
    /// forward scan to that many records before it.
    func scanLog(_ txn: Transaction, separateTail: Bool, forwardRecordsMax: Int?) throws -> LogScan {
        var scan = LogScan()
        let compacted = try compactedMark(txn)
        try txn.withCursor(tables.log) { cursor in
            var lastGood: UInt64?
            if separateTail {
                var item = try cursor.move(MDB_LAST)
                while let current = item {
                    scan.report.logRecordsChecked += 1
                    if let index = LogRecord.index(fromKey: current.key),
                       case .success = LogRecord.decodeTerm(key: current.key, value: current.value)
                    {
                        lastGood = index
                        break
                    }
                    scan.tornTailKeys.append(Array(current.key))
                    if let index = LogRecord.index(fromKey: current.key) {
                        scan.tornTailIndexes.append(index)
                    }
                    item = try cursor.move(MDB_PREV)
                }
                guard lastGood != nil else { return }
            }
            // Stop before the torn tail by position, not by index: a flipped key byte can sort a
            // record past the last good one, and it must still be seen.
            var stat = MDB_stat()
            try txn.context.check(mdb_stat(txn.raw, tables.log, &stat), "mdb_stat(log)")
            let itemsMax = stat.ms_entries - scan.tornTailKeys.count
            try scanForward(cursor, from: compacted, through: lastGood, recordsMax: forwardRecordsMax,
                            itemsMax: itemsMax, &scan.report)
        }
        scan.tornTailIndexes.sort()
        return scan
    }

    private func scanForward(
        _ cursor: Cursor, from compacted: (index: UInt64, term: UInt64), through lastGood: UInt64?,
        recordsMax: Int?, itemsMax: Int, _ report: inout VerifyReport
    ) throws {
        var itemsLeft = itemsMax
        var expected = compacted.index + 1
        var previousTerm: UInt64? = compacted.term
        var item: Cursor.Item?
        if let recordsMax, let lastGood, recordsMax > 0, lastGood >= expected + UInt64(recordsMax) {
            expected = lastGood - UInt64(recordsMax) + 1
            itemsLeft = recordsMax
            previousTerm = nil
            item = try LogRecord.withKey(expected) { try cursor.seek(atLeast: $0) }
        } else {
            item = try cursor.move(MDB_FIRST)
        }
        while itemsLeft > 0, let current = item {
            itemsLeft -= 1
            item = try cursor.move(MDB_NEXT)
            guard let index = LogRecord.index(fromKey: current.key) else {
                report.add(.logKey(expected: expected))
                continue
            }
            report.logRecordsChecked += 1
            if index > expected {
                report.add(.logGap(expected: expected, found: index))
            } else if index < expected {
                report.add(.logRecord(index: index, defect: "out of order after a malformed key"))
            }
            switch LogRecord.decodeTerm(key: current.key, value: current.value) {
            case .success(let term):
                if let previousTerm, term < previousTerm {
                    report.add(.termRegression(index: index, term: term, previousTerm: previousTerm))
                }
                previousTerm = max(previousTerm ?? term, term)
            case .failure(let failure):
                report.add(.logRecord(index: index, defect: failure.defect.description))
            }
            // A damaged key may be UInt64.max; never overflow on it.
            expected = max(expected, index == .max ? index : index + 1)
        }
    }

    /// Runs at open: truncates a torn tail (writers only) and records mid-log corruption.
    func recoverOnOpen() throws {
        let scan = try read { txn in
            try scanLog(txn, separateTail: true, forwardRecordsMax: options.startupScanRecordsMax)
        }
        openReport.recordsScanned = scan.report.logRecordsChecked
        openReport.truncatedTail = scan.tornTailIndexes
        if !scan.tornTailKeys.isEmpty {
            if options.readOnly {
                // A reader must not write; it reports the damaged tail as corruption instead.
                let first = try firstIndex
                corruptRecordIndex = scan.tornTailIndexes.first ?? first
            } else {
                try write { txn in
                    for key in scan.tornTailKeys {
                        try key.withUnsafeBytes { _ = try txn.delete(tables.log, key: $0) }
                    }
                }
            }
        }
        if let first = scan.report.firstBadLogIndex {
            openReport.midLogCorruption = first
            corruptRecordIndex = min(corruptRecordIndex ?? first, first)
        }
        try read { txn in try updateCommitGap(txn) }
    }

    /// Rescans the whole log after a write removed records a scan had marked corrupt.
    func refreshHealth() throws {
        let scan = try read { txn in
            let scan = try scanLog(txn, separateTail: false, forwardRecordsMax: nil)
            try updateCommitGap(txn)
            return scan
        }
        corruptRecordIndex = scan.report.firstBadLogIndex
    }

    /// Reads and checks everything: every log record (checksum, key, index continuity, term
    /// monotonicity), the fixed records, the commit index against the log, and every value of
    /// every projection table. Log problems found here also degrade `health`.
    ///
    /// NB: the scan runs in one read transaction, which pins its snapshot: a writer cannot reuse
    /// pages freed meanwhile, so the file can grow during a long verify. On a large live store,
    /// run it from a read-only store in a history tool, off peak.
    public func verify() throws(LogStoreError) -> VerifyReport {
        return try typed {
            let report = try read { txn in
                var report = try scanLog(txn, separateTail: false, forwardRecordsMax: nil).report
                try verifyMetadata(txn, &report)
                for table in try projectionTableNames(txn) {
                    guard let dbi = try projectionTable(table, txn, create: false) else { continue }
                    let domain = RecordDomain.projection(table)
                    try txn.withCursor(dbi) { cursor in
                        var item = try cursor.move(MDB_FIRST)
                        while let current = item {
                            report.projectionValuesChecked += 1
                            let decoded = RecordCodec.decode(current.value, domain: domain, key: current.key)
                            if case .failure(let failure) = decoded {
                                report.add(.projectionValue(table: table, key: Array(current.key),
                                                            defect: failure.defect.description))
                            }
                            item = try cursor.move(MDB_NEXT)
                        }
                    }
                }
                return report
            }
            let recordIssue = report.issues.filter {
                if case .commitBeyondLog = $0 { return false }
                return true
            }.compactMap(\.logIndex).min()
            if let recordIssue { corruptRecordIndex = min(corruptRecordIndex ?? recordIssue, recordIssue) }
            return report
        }
    }

    private func verifyMetadata(_ txn: Transaction, _ report: inout VerifyReport) throws {
        func check(_ name: String, _ body: () throws -> Void) throws {
            do {
                try body()
            } catch LogStoreError.corruptMetadata {
                report.add(.metadata(name: name, defect: "checksum or length mismatch"))
            }
        }
        try check("format") { _ = try readFormatForVerify(txn) }
        try check("applied index") { _ = try appliedIndex(txn) }
        try check("compacted") { _ = try compactedMark(txn) }
        try check("snapshot") { _ = try snapshotMetaAndDataChecked(txn) }
        try check("hardstate") {
            let commit = try hardState(txn).commit
            let last = try lastIndex(txn)
            if commit > last { report.add(.commitBeyondLog(commit: commit, lastIndex: last)) }
        }
    }

    private func readFormatForVerify(_ txn: Transaction) throws -> UInt32? {
        guard let body = try getRecord(txn, tables.meta, .meta, key: MetaKey.format, name: "format")
        else { return nil }
        guard body.count == 4 else { throw LogStoreError.corruptMetadata(name: "format") }
        return body.withUnsafeBytes { $0.loadBigEndianUInt32(at: 0) }
    }

    /// Checks the snapshot data's checksum without copying it.
    private func snapshotMetaAndDataChecked(_ txn: Transaction) throws -> StoredSnapshotMeta? {
        guard let meta = try snapshotMeta(txn) else { return nil }
        try MetaKey.snapshotData.withUnsafeBytes { key in
            guard let value = try txn.get(tables.snapshot, key: key),
                  case .success = RecordCodec.decode(value, domain: .snapshot, key: key)
            else { throw LogStoreError.corruptMetadata(name: "snapshot data") }
        }
        return meta
    }

    func projectionTableNames(_ txn: Transaction) throws -> [String] {
        var mainTable: MDB_dbi = 0
        try txn.context.check(mdb_dbi_open(txn.raw, nil, 0, &mainTable), "mdb_dbi_open(main)")
        return try txn.withCursor(mainTable) { cursor in
            var names: [String] = []
            var item = try cursor.move(MDB_FIRST)
            while let current = item {
                let name = String(decoding: current.key, as: UTF8.self)
                if name.hasPrefix(Self.projectionPrefix) {
                    names.append(String(name.dropFirst(Self.projectionPrefix.count)))
                }
                item = try cursor.move(MDB_NEXT)
            }
            return names
        }
    }
}
