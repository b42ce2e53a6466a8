import Authority
import Crypto
import Foundation
import SPIFFE
import _CryptoExtras
import SwiftASN1
import X509

/// A small deterministic generator (SplitMix64) so serials and keys in tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs the system `openssl` as an independent checker of what the CA issues.
enum OpenSSL {
    struct Failure: Error, CustomStringConvertible {
        let status: Int32
        let output: String
        var description: String { "openssl exited \(status): \(output)" }
    }

    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else { throw Failure(status: process.terminationStatus, output: output) }
        return output
    }

    /// Writes certificates as PEM files in a fresh directory and hands their paths to `body`.
    static func withFiles<T>(_ certificates: [String: [Certificate]], _ body: ([String: String]) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lineage-openssl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var paths: [String: String] = [:]
        for (name, list) in certificates {
            let path = directory.appendingPathComponent(name + ".pem").path
            let pem = try list.map { try $0.serializeAsPEM().pemString }.joined(separator: "\n") + "\n"
            try pem.write(toFile: path, atomically: true, encoding: .utf8)
            paths[name] = path
        }
        return try body(paths)
    }
}

enum Fixtures {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    static func selfSignedAuthority(
        key: Certificate.PrivateKey = .init(P256.Signing.PrivateKey()), ttl: TimeInterval = 86_400, seed: UInt64 = 1
    ) throws -> SigningAuthority {
        var generator = SeededGenerator(seed: seed)
        let certificate = try CertificateTemplates.selfSignedCA(
            trustDomain: try .init("example.org"), subject: .init(), privateKey: key,
            serialNumber: SerialNumbers.random(using: &generator), now: now, ttl: ttl)
        return SigningAuthority(certificate: certificate, privateKey: key)
    }

    static func csr(key: Certificate.PrivateKey, sanURI: String? = nil) throws -> [UInt8] {
        var attributes = CertificateSigningRequest.Attributes()
        if let sanURI {
            let extensions = try Certificate.Extensions { SubjectAlternativeNames([.uniformResourceIdentifier(sanURI)]) }
            attributes = CertificateSigningRequest.Attributes([try .init(ExtensionRequest(extensions: extensions))])
        }
        let algorithm: Certificate.SignatureAlgorithm =
            _RSA.Signing.PublicKey(key.publicKey) != nil ? .sha256WithRSAEncryption
            : Curve25519.Signing.PublicKey(key.publicKey) != nil ? .ed25519 : .ecdsaWithSHA256
        let csr = try CertificateSigningRequest(
            version: .v1, subject: try DistinguishedName { CommonName("ignored") }, privateKey: key,
            attributes: attributes, signatureAlgorithm: algorithm)
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return serializer.serializedBytes
    }
}
