/// An entry was registered. `entry.revisionNumber` is 0 and `entry.createdAt` is the leader's
/// time; the ID was minted by the leader unless the caller chose one.
public struct RegistrationEntryCreated: Hashable, Sendable {
    public var entry: RegistrationEntry
    public init(entry: RegistrationEntry) { self.entry = entry }
}

/// An entry changed. Carries the complete new state, so folding needs no earlier event, with
/// `revisionNumber` one more than the previous state's.
public struct RegistrationEntryUpdated: Hashable, Sendable {
    public var entry: RegistrationEntry
    public init(entry: RegistrationEntry) { self.entry = entry }
}

/// An entry was deleted at `revisionNumber`, the revision it had then, so agents syncing by
/// (id, revision) pairs can tell this deletion from a later re-creation under the same ID.
public struct RegistrationEntryDeleted: Hashable, Sendable {
    public var entryID: RegistrationEntryID
    public var revisionNumber: Int64

    public init(entryID: RegistrationEntryID, revisionNumber: Int64) {
        self.entryID = entryID
        self.revisionNumber = revisionNumber
    }
}
