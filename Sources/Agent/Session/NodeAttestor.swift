import Foundation
import Wire

/// The agent side of a node attestor plugin (SPIRE's `NodeAttestor` agent plugin): the first
/// attestation payload and the answers to the server's challenges.
public protocol NodeAttestor: Sendable {
    /// The plugin name the server dispatches on (`join_token`, `x509pop`, …).
    var type: String { get }
    /// Whether this attestor can prove the node's identity again later (x509pop can; a join
    /// token is single-use). The server's `reattestable` must agree before the agent relies on it.
    var canReattest: Bool { get }
    func attestationData() throws -> Spire_Api_Types_AttestationData
    func respond(to challenge: [UInt8]) throws -> [UInt8]
}

/// `NodeAttestor "join_token"`: the payload is the token's UTF-8 bytes; no challenge.
public struct JoinTokenAttestor: NodeAttestor {
    public let token: String

    public init(token: String) {
        self.token = token
    }

    public var type: String { "join_token" }
    public var canReattest: Bool { false }

    public func attestationData() throws -> Spire_Api_Types_AttestationData {
        var data = Spire_Api_Types_AttestationData()
        data.type = type
        data.payload = Data(token.utf8)
        return data
    }

    public func respond(to challenge: [UInt8]) throws -> [UInt8] {
        throw AttestationFailure("join_token attestation has no challenge, but the server sent one")
    }
}
