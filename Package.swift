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
        .library(name: "Consensus", targets: ["Consensus"]),
        .executable(name: "lineage-raft-sim", targets: ["lineage-raft-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
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
        .executableTarget(
            name: "lineage-server",
            dependencies: [
                "SPIFFE",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "lineage-agent",
            dependencies: [
                "SPIFFE",
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
        // Pure: the Raft core (step / tick / propose -> Ready -> advance). No dependencies at all.
        .target(
            name: "Consensus",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        // Pure: a deterministic N-node cluster simulator (VOPR style) driving the Raft core.
        .target(
            name: "ConsensusSimulation",
            dependencies: ["Consensus"],
            swiftSettings: strictSettings
        ),
        // Thin seed-replay front end for the simulator.
        .executableTarget(
            name: "lineage-raft-sim",
            dependencies: ["ConsensusSimulation"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ConsensusTests",
            dependencies: ["Consensus", "ConsensusSimulation"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
