import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process at the other end of an accepted Unix socket connection.
///
/// `pid`, `uid` and `gid` are what the kernel recorded at `connect()` (`SO_PEERCRED`). `pidfd`
/// refers to that very process (`SO_PEERPIDFD`, Linux ≥ 6.5): once the process exits, the pidfd
/// says so even if its PID has been handed to another process, which closes SPIRE's PID-reuse
/// race (RELIABILITY.md §4). On older kernels `pidfd` is nil and attestation falls back to
/// comparing `/proc/<pid>/stat` start times before and after.
public final class PeerConnection: Sendable {
    public let pid: Int32
    public let uid: UInt32
    public let gid: UInt32
    private let pidfd: Int32?

    init(pid: Int32, uid: UInt32, gid: UInt32, pidfd: Int32?) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.pidfd = pidfd
    }

    deinit {
        if let pidfd { close(pidfd) }
    }

    /// True while the connecting process has not exited. Without a pidfd the answer is only
    /// "the PID exists"; callers then also compare start times.
    public var isAlive: Bool {
        guard let pidfd else { return kill(pid, 0) == 0 || errno == EPERM }
        // A pidfd polls readable once its process has exited.
        var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        return ready == 0
    }

    public var hasPidfd: Bool { pidfd != nil }

    /// `struct ucred` from <sys/socket.h>.
    private struct UCred {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    private static let soPeerCred: Int32 = 17
    private static let soPeerPidfd: Int32 = 77

    /// Reads the peer's credentials from an accepted channel.
    static func read(from channel: any Channel) -> EventLoopFuture<PeerConnection> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(PeerTrackingError.untrackedConnection)
        }
        let level = SocketOptionLevel(SOL_SOCKET)
        let credentials: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: level, name: SocketOptionName(soPeerCred))
        return credentials.flatMap { credentials in
            guard credentials.pid > 0 else {
                return channel.eventLoop.makeFailedFuture(PeerTrackingError.credentialsUnavailable(errno: EINVAL))
            }
            let pidfd: EventLoopFuture<Int32> = provider.unsafeGetSocketOption(
                level: level, name: SocketOptionName(soPeerPidfd))
            return pidfd.map { Optional($0) }.recover { _ in nil }.map { pidfd in
                PeerConnection(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid,
                               pidfd: pidfd.flatMap { $0 >= 0 ? $0 : nil })
            }
        }
    }
}
