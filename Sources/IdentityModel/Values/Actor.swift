import SPIFFE

/// Who caused an event: recorded in every envelope, so the log answers "who decided it".
public enum Actor: Hashable, Sendable, CustomStringConvertible {
    /// An admin API caller authenticated by its X509-SVID (an entry with `admin` set).
    case admin(SPIFFEID)
    /// An admin API caller on the server's local admin socket, identified by its Unix UID as the
    /// kernel reported it (`SO_PEERCRED`).
    case localAdmin(uid: UInt32)
    /// An attested agent calling the agent API with its agent SVID.
    case agent(SPIFFEID)
    /// A server acting on its own schedule: CA rotation, cluster membership.
    case server(NodeName)

    public var description: String {
        switch self {
        case .admin(let id): "admin \(id)"
        case .localAdmin(let uid): "local admin uid \(uid)"
        case .agent(let id): "agent \(id)"
        case .server(let name): "server \(name)"
        }
    }
}
