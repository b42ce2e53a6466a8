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
        .library(name: "LogStore", targets: ["LogStore"]),
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
        // Port: LMDB (Debian liblmdb-dev) through a system library target.
        .systemLibrary(
            name: "CLMDB",
            path: "Sources/CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"])]
        ),
        // Port: the durable Raft log, hard state, snapshots and projection tables in LMDB.
        // Knows nothing of Raft types; a driver in Server maps them onto StoredEntry & co.
        .target(
            name: "LogStore",
            dependencies: ["CLMDB"],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "lineage-bench-store",
            dependencies: ["LogStore", "CLMDB"],
            path: "bench/store",
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
        .testTarget(
            name: "LogStoreTests",
            dependencies: ["LogStore", "CLMDB"],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)
