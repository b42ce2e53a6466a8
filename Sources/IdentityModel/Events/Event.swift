/// Every decision the control plane records, as the payload of one log entry.
///
/// Each case is a past-tense fact. The codec writes each as its newest versioned message
/// (`RegistrationEntryCreatedV1`) and reads every version ever written, so a new version of an
/// event changes the codec, not this enum's callers.
public enum Event: Hashable, Sendable {
    case registrationEntryCreated(RegistrationEntryCreated)
    case registrationEntryUpdated(RegistrationEntryUpdated)
    case registrationEntryDeleted(RegistrationEntryDeleted)

    case joinTokenCreated(JoinTokenCreated)
    case joinTokenConsumed(JoinTokenConsumed)

    case agentAttested(AgentAttested)
    case agentRenewed(AgentRenewed)
    case agentRenewalActivated(AgentRenewalActivated)
    case agentBanned(AgentBanned)
    case agentEvicted(AgentEvicted)

    case x509SVIDIssued(X509SVIDIssued)
    case jwtSVIDIssued(JWTSVIDIssued)

    case x509AuthorityPrepared(X509AuthorityPrepared)
    case x509AuthorityActivated(X509AuthorityActivated)
    case x509AuthorityTainted(X509AuthorityTainted)
    case x509AuthorityRevoked(X509AuthorityRevoked)
    case jwtAuthorityPrepared(JWTAuthorityPrepared)
    case jwtAuthorityActivated(JWTAuthorityActivated)
    case jwtAuthorityTainted(JWTAuthorityTainted)
    case jwtAuthorityRevoked(JWTAuthorityRevoked)

    case federatedBundleSet(FederatedBundleSet)
    case federatedBundleDeleted(FederatedBundleDeleted)

    case clusterMemberAdded(ClusterMemberAdded)
    case clusterMemberRemoved(ClusterMemberRemoved)

    /// Which event this is, without its payload: for logs, metrics and filters.
    public var kind: EventKind {
        switch self {
        case .registrationEntryCreated: .registrationEntryCreated
        case .registrationEntryUpdated: .registrationEntryUpdated
        case .registrationEntryDeleted: .registrationEntryDeleted
        case .joinTokenCreated: .joinTokenCreated
        case .joinTokenConsumed: .joinTokenConsumed
        case .agentAttested: .agentAttested
        case .agentRenewed: .agentRenewed
        case .agentRenewalActivated: .agentRenewalActivated
        case .agentBanned: .agentBanned
        case .agentEvicted: .agentEvicted
        case .x509SVIDIssued: .x509SVIDIssued
        case .jwtSVIDIssued: .jwtSVIDIssued
        case .x509AuthorityPrepared: .x509AuthorityPrepared
        case .x509AuthorityActivated: .x509AuthorityActivated
        case .x509AuthorityTainted: .x509AuthorityTainted
        case .x509AuthorityRevoked: .x509AuthorityRevoked
        case .jwtAuthorityPrepared: .jwtAuthorityPrepared
        case .jwtAuthorityActivated: .jwtAuthorityActivated
        case .jwtAuthorityTainted: .jwtAuthorityTainted
        case .jwtAuthorityRevoked: .jwtAuthorityRevoked
        case .federatedBundleSet: .federatedBundleSet
        case .federatedBundleDeleted: .federatedBundleDeleted
        case .clusterMemberAdded: .clusterMemberAdded
        case .clusterMemberRemoved: .clusterMemberRemoved
        }
    }
}

/// The type of an event, named as the log's schema names it.
public enum EventKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case registrationEntryCreated = "RegistrationEntryCreated"
    case registrationEntryUpdated = "RegistrationEntryUpdated"
    case registrationEntryDeleted = "RegistrationEntryDeleted"
    case joinTokenCreated = "JoinTokenCreated"
    case joinTokenConsumed = "JoinTokenConsumed"
    case agentAttested = "AgentAttested"
    case agentRenewed = "AgentRenewed"
    case agentRenewalActivated = "AgentRenewalActivated"
    case agentBanned = "AgentBanned"
    case agentEvicted = "AgentEvicted"
    case x509SVIDIssued = "X509SVIDIssued"
    case jwtSVIDIssued = "JWTSVIDIssued"
    case x509AuthorityPrepared = "X509AuthorityPrepared"
    case x509AuthorityActivated = "X509AuthorityActivated"
    case x509AuthorityTainted = "X509AuthorityTainted"
    case x509AuthorityRevoked = "X509AuthorityRevoked"
    case jwtAuthorityPrepared = "JWTAuthorityPrepared"
    case jwtAuthorityActivated = "JWTAuthorityActivated"
    case jwtAuthorityTainted = "JWTAuthorityTainted"
    case jwtAuthorityRevoked = "JWTAuthorityRevoked"
    case federatedBundleSet = "FederatedBundleSet"
    case federatedBundleDeleted = "FederatedBundleDeleted"
    case clusterMemberAdded = "ClusterMemberAdded"
    case clusterMemberRemoved = "ClusterMemberRemoved"

    /// The version the codec writes for this event today.
    public var currentVersion: Int { 1 }

    public var description: String { rawValue }
}
