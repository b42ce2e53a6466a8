import IdentityModel
import SPIFFE

/// What one applied event moved in the projection.
///
/// Changes feed two consumers: the change feed (agents' sync streams filter them by what each
/// agent may see) and `Projector.tableWrites`, which turns them into table rows. Each carries
/// enough to filter without reading the state again — a deleted entry carries its last value
/// so a stream can tell which agent's view it left.
public enum Change: Hashable, Sendable {
    /// An entry was created or updated; the value is its new state.
    case entryUpserted(RegistrationEntry)
    /// An entry was deleted; the value is its state just before.
    case entryDeleted(RegistrationEntry)
    case agentUpserted(AgentRecord)
    /// The agent was evicted; the value is its record just before.
    case agentRemoved(AgentRecord)
    case joinTokenUpserted(JoinTokenRecord)
    /// An expired token was pruned.
    case joinTokenRemoved(SHA256Digest)
    case x509AuthorityUpserted(X509AuthorityRecord)
    /// An expired old authority was pruned from the journal.
    case x509AuthorityRemoved(AuthorityReference)
    case jwtAuthorityUpserted(JWTAuthorityRecord)
    case jwtAuthorityRemoved(AuthorityReference)
    /// The own trust domain's bundle content changed; the value is its new sequence number.
    case bundleChanged(sequenceNumber: UInt64)
    case federatedBundleUpserted(FederatedBundle)
    case federatedBundleDeleted(TrustDomain)
    case clusterMemberUpserted(ClusterMember)
    case clusterMemberRemoved(NodeName)
}
