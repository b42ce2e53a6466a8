// swift-tools-version: 6.1
// Lineage: a SPIFFE runtime built as an event-sourced identity control plane.
// Module map and import direction: docs/architecture.md (mirrors shared/DESIGN.md).
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Lineage",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "lineage-server", targets: ["lineage-server"]),
        .executable(name: "lineage-agent", targets: ["lineage-agent"]),
        .library(name: "SPIFFE", targets: ["SPIFFE"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", exact: "1.46.0"),
    ],
    targets: [
        // Pure: SPIFFE IDs, bundles, SVID parse/verify. Imports nothing of ours.
        .target(
            name: "SPIFFE",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // Pure: SPIRE-layout HCL configuration → typed server and agent settings.
        .target(name: "Config", dependencies: ["SPIFFE"], swiftSettings: strictSettings),
        // Pure: CA and SVID templates, CSR checks, rotation schedule.
        .target(
            name: "Authority",
            dependencies: [
                "SPIFFE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // Pure: attestation logic (unix selectors and /proc parsing; node attestors follow).
        .target(name: "Attestation", dependencies: ["SPIFFE"], swiftSettings: strictSettings),
        // Generated: protobuf + gRPC code for the external APIs (scripts/generate-protos.sh).
        .target(
            name: "Wire",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // Port: private keys in memory or in a 0600 file (SPIRE's KeyManager "memory" / "disk").
        .target(
            name: "KeyStore",
            dependencies: [
                "Config",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // Runtime: the standard grpc.health.v1 service (hand-written; no package provides it).
        .target(
            name: "GRPCHealth",
            dependencies: [
                "Wire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        // Runtime: node attestation, sync, SVID cache, unix workload attestation, Workload API, SDS.
        .target(
            name: "Agent",
            dependencies: [
                "SPIFFE", "Config", "Attestation", "Wire", "GRPCHealth",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                .product(name: "NIOHPACK", package: "swift-nio-http2"),
            ],
            swiftSettings: strictSettings
        ),
        // Shared by the executables: reading config files, printing diagnostics.
        .target(name: "CLISupport", dependencies: ["Config"], swiftSettings: strictSettings),
        .executableTarget(
            name: "lineage-server",
            dependencies: [
                "SPIFFE", "Config", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "lineage-agent",
            dependencies: [
                "SPIFFE", "Config", "CLISupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SPIFFETests",
            dependencies: [
                "SPIFFE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AgentTests",
            dependencies: [
                "Agent", "Wire", "Attestation", "Config", "SPIFFE", "Authority",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AuthorityTests",
            dependencies: [
                "Authority", "SPIFFE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "AttestationTests", dependencies: ["Attestation"], swiftSettings: strictSettings),
        .testTarget(
            name: "GRPCHealthTests",
            dependencies: [
                "GRPCHealth", "Wire",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "KeyStoreTests",
            dependencies: ["KeyStore", "Config", .product(name: "X509", package: "swift-certificates")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "SPIFFE"], swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
