// swift-tools-version:6.1
// flowctl — a declarative pipeline runner for medical-imaging research data.
// Layering (bottom to top): FlowModel -> FlowJobFile / FlowHTTP -> FlowConnector -> connectors
// -> FlowPlanner -> FlowExecutor -> FlowCommands -> flowctl. See DESIGN notes in README.md.
import PackageDescription

let package = Package(
    name: "flowctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flowctl", targets: ["flowctl"]),
        .executable(name: "flowctl-sandbox", targets: ["flowctl-sandbox"]),
        .library(name: "FlowSandbox", targets: ["FlowSandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // MARK: bottom: pure values
        .target(name: "FlowModel"),
        .target(name: "FlowJobFile", dependencies: ["FlowModel", "Yams"]),

        // MARK: transport
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "FlowHTTP", dependencies: [
            "CCurl",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),

        // MARK: connectors (one protocol, one module per platform)
        .target(name: "FlowConnector", dependencies: [
            "FlowModel", "FlowHTTP", .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .target(name: "FlowLocal", dependencies: ["FlowConnector"]),
        .target(name: "FlowXNAT", dependencies: ["FlowConnector"]),
        .target(name: "FlowLORIS", dependencies: ["FlowConnector"]),
        .target(name: "FlowGrandChallenge", dependencies: ["FlowConnector"]),
        .target(name: "FlowAgora", dependencies: ["FlowConnector"]),
        .target(name: "FlowWebFolder", dependencies: ["FlowConnector"]),

        // MARK: pipeline
        .target(name: "FlowPlanner", dependencies: ["FlowModel", "FlowConnector"]),
        .target(name: "CSQLiteOptions", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "FlowExecutor", dependencies: [
            "FlowModel", "FlowConnector", "FlowHTTP", "FlowPlanner", "CSQLiteOptions",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),

        // MARK: commands and entry points
        .target(name: "FlowCommands", dependencies: [
            "FlowModel", "FlowJobFile", "FlowPlanner", "FlowExecutor", "FlowConnector", "FlowHTTP",
            "FlowLocal", "FlowXNAT", "FlowLORIS", "FlowGrandChallenge", "FlowAgora", "FlowWebFolder",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "flowctl", dependencies: [
            "FlowCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: sandbox: emulators of the four platforms
        .target(name: "FlowSandbox", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "flowctl-sandbox", dependencies: [
            "FlowSandbox",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: tests: one target per module, plus end-to-end (see `testTargets` below)
    ]
)

// One test target per module, plus end-to-end tests that run the built binaries.
// A target is listed here once it has real tests.
let testTargets: [Target] = [
    .testTarget(name: "FlowModelTests", dependencies: ["FlowModel"]),
    .testTarget(name: "FlowJobFileTests", dependencies: ["FlowJobFile", "Yams"], resources: [.copy("Fixtures")]),
    .testTarget(name: "FlowPlannerTests", dependencies: ["FlowPlanner", "FlowLocal", "FlowJobFile"],
                exclude: ["Golden"]),
    .testTarget(name: "FlowLocalTests", dependencies: ["FlowLocal"]),
    .testTarget(name: "FlowExecutorTests", dependencies: ["FlowExecutor", "FlowHTTP"]),
    .testTarget(name: "FlowConnectorTests", dependencies: ["FlowConnector"]),
    .testTarget(name: "FlowWebFolderTests", dependencies: [
        "FlowWebFolder", .product(name: "Hummingbird", package: "hummingbird"),
    ]),
    .testTarget(name: "FlowCommandsTests", dependencies: [
        "FlowCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ], exclude: ["Golden"]),
    // Runs the built `flowctl` against the built `flowctl-sandbox`, as a user would.
    .testTarget(name: "EndToEndTests", exclude: ["Golden"]),
    .testTarget(name: "FlowXNATTests", dependencies: [
        "FlowXNAT", "FlowSandbox", .product(name: "Crypto", package: "swift-crypto"),
    ]),
    .testTarget(name: "FlowLORISTests", dependencies: [
        "FlowLORIS", "FlowSandbox", .product(name: "Crypto", package: "swift-crypto"),
    ]),
    .testTarget(name: "FlowGrandChallengeTests", dependencies: ["FlowGrandChallenge", "FlowSandbox"]),
    .testTarget(name: "FlowAgoraTests", dependencies: [
        "FlowAgora", "FlowSandbox", .product(name: "Crypto", package: "swift-crypto"),
    ]),
    .testTarget(name: "FlowSandboxTests", dependencies: ["FlowSandbox", .product(name: "Crypto", package: "swift-crypto")]),
    .testTarget(name: "FlowHTTPTests", dependencies: [
        "FlowHTTP",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Crypto", package: "swift-crypto"),
    ]),
]
package.targets += testTargets

// Each library module keeps a README.md stating its purpose; it is documentation, not a resource.
for target in package.targets where target.type == .regular && target.name.hasPrefix("Flow") {
    target.exclude.append("README.md")
}

// The hostile platforms' scenario catalogue is a README beside their code.
package.targets.first { $0.name == "FlowSandbox" }?.exclude.append("Hostile/README.md")
