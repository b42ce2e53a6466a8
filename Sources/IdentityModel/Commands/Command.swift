import SPIFFE

/// A request to change the control plane, in the imperative: what a caller asks and the leader
/// validates (authorization, policy, current state) before it appends the resulting events.
///
/// Commands carry only what the caller supplies. Time, minted IDs, serial numbers and
/// signatures are added by the leader or the signing server, which is why events hold more.
/// Commands are not persisted; the events they produce are.
public enum Command: Hashable, Sendable {
    case createRegistrationEntry(CreateRegistrationEntry)
    case updateRegistrationEntry(UpdateRegistrationEntry)
    case deleteRegistrationEntry(DeleteRegistrationEntry)

    case createJoinToken(CreateJoinToken)

    case attestAgent(AttestAgent)
    case renewAgent(RenewAgent)
    case activateAgentRenewal(ActivateAgentRenewal)
    case banAgent(BanAgent)
    case evictAgent(EvictAgent)

    case issueX509SVID(IssueX509SVID)
    case issueJWTSVID(IssueJWTSVID)

    case prepareX509Authority(PrepareX509Authority)
    case activateX509Authority(ActivateX509Authority)
    case taintX509Authority(TaintX509Authority)
    case revokeX509Authority(RevokeX509Authority)
    case prepareJWTAuthority(PrepareJWTAuthority)
    case activateJWTAuthority(ActivateJWTAuthority)
    case taintJWTAuthority(TaintJWTAuthority)
    case revokeJWTAuthority(RevokeJWTAuthority)

    case setFederatedBundle(SetFederatedBundle)
    case deleteFederatedBundle(DeleteFederatedBundle)

    case addClusterMember(AddClusterMember)
    case removeClusterMember(RemoveClusterMember)
}

/// A command with its caller and idempotency key, as it travels to the leader.
public struct CommandEnvelope: Hashable, Sendable {
    public var actor: Actor
    public var requestID: RequestID
    public var command: Command

    public init(actor: Actor, requestID: RequestID, command: Command) {
        self.actor = actor
        self.requestID = requestID
        self.command = command
    }
}
