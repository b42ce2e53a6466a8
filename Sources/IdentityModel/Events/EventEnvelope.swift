/// One log entry: an event plus who caused it, when, and under which idempotency key.
///
/// The leader fills `issuedAt` from its clock when it proposes the event, so folding the log is
/// deterministic on every replica; projections read `issuedAt`, never a clock.
public struct EventEnvelope: Hashable, Sendable {
    /// The leader's time at proposal.
    public var issuedAt: Timestamp
    public var actor: Actor
    /// The caller's idempotency key (the command's), or one the leader minted for its own
    /// scheduled actions.
    public var requestID: RequestID
    public var event: Event

    public init(issuedAt: Timestamp, actor: Actor, requestID: RequestID, event: Event) {
        self.issuedAt = issuedAt
        self.actor = actor
        self.requestID = requestID
        self.event = event
    }
}
