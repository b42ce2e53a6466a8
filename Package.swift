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
        .testTarget(name: "ConfigTests", dependencies: ["Config", "SPIFFE"], swiftSettings: strictSettings),
    ],
    swiftLanguageModes: [.v6]
)
