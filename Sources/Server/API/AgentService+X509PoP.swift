import Attestation
import Foundation
import GRPCCore
import IdentityModel
import Wire

extension AgentService {
    /// SPIRE's x509pop on the attest stream: verify the chain in the payload against the
    /// configured CAs, send a challenge, read the answer from the same stream, verify it with
    /// the leaf's key, then record the agent with its selectors and sign its SVID.
    func attestX509PoP(
        payload: [UInt8], csr: [UInt8],
        answers: inout RPCAsyncSequence<Spire_Api_Server_Agent_V1_AttestAgentRequest, any Error>.AsyncIterator,
        challenges: RPCWriter<Spire_Api_Server_Agent_V1_AttestAgentResponse>
    ) async throws -> Spire_Api_Types_X509SVID {
        guard let x509pop else { preconditionFailure("dispatched to x509pop without a configured CA bundle") }
        let candidate: X509PoPCandidate
        do {
            candidate = try await x509pop.verify(payload: payload, at: Date())
        } catch {
            throw error.rpcError
        }
        var random = SystemRandomNumberGenerator()
        let challenge = candidate.challenge(using: &random)
        var message = Spire_Api_Server_Agent_V1_AttestAgentResponse()
        message.challenge = Data(challenge.jsonEncoded())
        try await challenges.write(message)
        guard let next = try await answers.next(), case .challengeResponse(let answer) = next.step else {
            throw RPCError(code: .invalidArgument, message: "failed to attest: expected the x509pop challenge response")
        }
        let attestation: X509PoPAttestation
        do {
            attestation = try candidate.verify(response: Array(answer), to: challenge)
        } catch {
            throw error.rpcError
        }
        var selectors: [Selector] = []
        for value in attestation.selectorValues {
            do {
                selectors.append(try Selector(type: X509PoP.type, value: value))
            } catch {
                throw RPCError(code: .invalidArgument, message: "failed to attest: x509pop selector \(value): \(error)")
            }
        }
        return try await issueAgentSVID(
            attestation.agentID, csr: csr, attestation: X509PoP.type, selectors: selectors, canReattest: true)
    }
}

extension AttestationError {
    /// For x509pop, SPIRE's codes: a payload or response it cannot read is InvalidArgument; a chain or a
    /// proof that does not hold is PermissionDenied.
    var rpcError: RPCError {
        let code: RPCError.Code = switch self.code {
        case .tooLarge, .malformed, .noCertificate, .tooManyCertificates, .malformedCertificate, .unsupportedKey,
            .keyTooLarge, .wrongResponseKind, .invalidAgentID:
            .invalidArgument
        case .unreadableFile, .malformedProcFile, .processChanged:
            .internalError
        case .certificateNotYetValid, .certificateExpired, .untrusted, .notForDigitalSignature, .badSignature:
            .permissionDenied
        }
        return RPCError(code: code, message: "failed to attest: \(self)")
    }
}
