// swift-tools-version:6.1
// 6.1: the first tools version that can choose a dependency's traits (swift-configuration's YAML).
import PackageDescription

let package = Package(
    name: "s3-sidecar",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Verifier", targets: ["Verifier"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "DevStore", targets: ["DevStore"]),
        .executable(name: "s3-sidecar", targets: ["Sidecar"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // The sidecar's configuration: layered providers (flags, environment, JSON or YAML file, defaults).
        // JSON and YAML files only; no CommandLineArguments (swift-argument-parser parses the command line)
        // and no Reloading (SIGHUP re-reads the file itself, see ServeCommand+Reload).
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["JSON", "YAML"]),
        // YAML configuration files: the key check reads the document's top-level mapping.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // Pure SigV4 verification: swift-crypto and the standard library only, no networking.
        .target(
            name: "Verifier",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "Verifier",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // The embedded development backend: a small S3 object store over a directory. Not a production store.
        .target(
            name: "DevStore",
            dependencies: [
                // The S3 wire layer (errors, XML escaping, percent-encoding, hex, request ids) is Verifier's.
                "Verifier",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "Sidecar",
            dependencies: [
                "Verifier",
                "Proxy",
                "DevStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(
            name: "VerifierBench",
            dependencies: ["Verifier", .product(name: "Crypto", package: "swift-crypto")],
            path: "bench/VerifierBench"
        ),
        .testTarget(
            name: "VerifierTests",
            dependencies: ["Verifier", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DevStoreTests",
            dependencies: [
                "DevStore",
                "Verifier",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy",
                "Verifier",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // TestMetrics: the state store's metrics, counted in the tests.
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "SidecarTests",
            dependencies: ["Sidecar", "Proxy", "Verifier", .product(name: "NIOCore", package: "swift-nio")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
