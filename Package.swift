// swift-tools-version:6.1
// flowctl — a declarative pipeline runner for medical-imaging research data.
// Layering (bottom to top): FlowModel, FlowFiles -> FlowJobFile, FlowHTTP (over CCurl) -> FlowConnector ->
// the connectors (FlowXNAT, FlowLORIS, FlowGrandChallenge, FlowAgora, FlowLocal, FlowWebFolder) ->
// FlowPlanner -> FlowExecutor -> FlowCommands -> flowctl. FlowFiles hashes through the system's
// OpenSSL libcrypto (COpenSSL), the one libcurl links. FlowSandbox (-> flowctl-sandbox)
// stands apart: the platforms' emulators. Each target declares every module it imports.
// See "Layout of the code" in README.md.
import Foundation
import PackageDescription

let package = Package(
    name: "flowctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "flowctl", targets: ["flowctl"]),
        .executable(name: "flowctl-sandbox", targets: ["flowctl-sandbox"]),
        .library(name: "FlowSandbox", targets: ["FlowSandbox"]),
        .library(name: "FlowConnectorTesting", targets: ["FlowConnectorTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // Hummingbird's own dependencies, named because the sandbox imports them directly.
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // MARK: bottom: pure values
        .target(name: "FlowModel"),
        .target(name: "FlowJobFile", dependencies: ["FlowModel", "Yams"]),

        // MARK: files and transport
        .target(name: "CFileSystem"),
        // Digests through the OpenSSL libcrypto libcurl already links: no BoringSSL to compile.
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "FlowFiles", dependencies: ["CFileSystem", "COpenSSL"]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "FlowHTTP", dependencies: ["CCurl", "FlowFiles", "FlowModel"]),
        // Streamed archives (zip, tar.gz) read as they arrive; inflate through the system's zlib.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "FlowArchive", dependencies: ["CZlib", "FlowModel"]),

        // MARK: connectors (one protocol, one module per platform)
        .target(name: "FlowConnector", dependencies: ["FlowFiles",
            "FlowModel", "FlowHTTP", .product(name: "DequeModule", package: "swift-collections"),
        ]),
        .target(name: "FlowLocal", dependencies: ["FlowFiles", "FlowConnector", "FlowModel"]),
        .target(name: "FlowXNAT", dependencies: ["FlowFiles", "FlowConnector", "FlowHTTP", "FlowModel"]),
        .target(name: "FlowLORIS", dependencies: ["FlowConnector", "FlowHTTP", "FlowModel"]),
        .target(name: "FlowGrandChallenge", dependencies: ["FlowConnector", "FlowHTTP", "FlowModel"]),
        .target(name: "FlowAgora", dependencies: ["FlowFiles", "FlowConnector", "FlowHTTP", "FlowModel"]),
        .target(name: "FlowWebFolder", dependencies: ["FlowConnector", "FlowHTTP", "FlowModel"]),

        // MARK: pipeline
        .target(name: "FlowPlanner", dependencies: ["FlowModel", "FlowConnector"]),
        .target(name: "CSQLiteOptions", linkerSettings: [.linkedLibrary("sqlite3")]),
        .target(name: "FlowExecutor", dependencies: ["FlowFiles",
            "FlowModel", "FlowConnector", "FlowHTTP", "FlowPlanner", "FlowArchive", "CSQLiteOptions",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "GRDBSQLite", package: "GRDB.swift"),
            .product(name: "DequeModule", package: "swift-collections"),
        ]),

        // The run report: a page model built from the journal and the run's record, an HTML renderer.
        .target(name: "FlowReport", dependencies: ["FlowModel", "FlowConnector", "FlowPlanner", "FlowExecutor"]),

        // MARK: commands and entry points
        .target(name: "FlowCommands", dependencies: ["FlowFiles",
            "FlowModel", "FlowJobFile", "FlowPlanner", "FlowExecutor", "FlowConnector", "FlowHTTP",
            "FlowLocal", "FlowXNAT", "FlowLORIS", "FlowGrandChallenge", "FlowAgora", "FlowWebFolder", "FlowReport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "flowctl", dependencies: [
            "FlowCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: sandbox: emulators of the four platforms
        .target(name: "CSandboxTLS", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "FlowSandbox", dependencies: [
            "FlowFiles", "CSandboxTLS", "CZlib",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A testing library beside the product: the sandbox set-up and the connector contract.
        .target(name: "FlowConnectorTesting", dependencies: ["FlowFiles",
            "FlowConnector", "FlowHTTP", "FlowModel", "FlowSandbox", "FlowCommands",
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
    .testTarget(name: "FlowFilesTests", dependencies: ["FlowFiles"]),
    .testTarget(name: "FlowArchiveTests", dependencies: ["FlowArchive", "CZlib"]),
    .testTarget(name: "FlowJobFileTests", dependencies: ["FlowJobFile", "Yams"], resources: [.copy("Fixtures")]),
    .testTarget(name: "FlowPlannerTests", dependencies: ["FlowPlanner", "FlowLocal", "FlowJobFile", "FlowConnector", "FlowModel"],
                exclude: ["Golden"]),
    .testTarget(name: "FlowLocalTests", dependencies: ["FlowLocal", "FlowConnector", "FlowModel"]),
    .testTarget(name: "FlowExecutorTests", dependencies: ["FlowFiles", "FlowExecutor", "FlowArchive", "FlowHTTP", "FlowConnector", "FlowModel", "FlowPlanner"]),
    .testTarget(name: "FlowReportTests", dependencies: ["FlowReport", "FlowExecutor", "FlowModel"], exclude: ["Golden"]),
    .testTarget(name: "FlowConnectorTests", dependencies: ["FlowConnector", "FlowHTTP", "FlowModel"]),
    // The connector contract, run against every connector.
    .testTarget(name: "ConnectorConformanceTests", dependencies: [
        "FlowConnectorTesting", "FlowCommands", "FlowConnector", "FlowModel", "FlowSandbox",
    ]),
    .testTarget(name: "FlowWebFolderTests", dependencies: [
        "FlowWebFolder", "FlowConnector", "FlowModel", .product(name: "Hummingbird", package: "hummingbird"),
    ]),
    .testTarget(name: "FlowCommandsTests", dependencies: [
        "FlowCommands", "FlowModel", .product(name: "ArgumentParser", package: "swift-argument-parser"),
    ], exclude: ["Golden"]),
    // Runs the built `flowctl` against the built `flowctl-sandbox`, as a user would.
    .testTarget(name: "EndToEndTests", exclude: ["Golden"]),
    .testTarget(name: "FlowXNATTests", dependencies: [
        "FlowXNAT", "FlowConnector", "FlowConnectorTesting", "FlowModel", "FlowSandbox", "FlowFiles", "FlowArchive",
    ]),
    .testTarget(name: "FlowLORISTests", dependencies: [
        "FlowLORIS", "FlowConnector", "FlowConnectorTesting", "FlowModel", "FlowSandbox", "FlowFiles",
    ]),
    .testTarget(name: "FlowGrandChallengeTests", dependencies: ["FlowFiles",
        "FlowGrandChallenge", "FlowConnector", "FlowConnectorTesting", "FlowHTTP", "FlowModel", "FlowSandbox",
    ]),
    .testTarget(name: "FlowAgoraTests", dependencies: [
        "FlowAgora", "FlowConnector", "FlowConnectorTesting", "FlowHTTP", "FlowModel", "FlowSandbox", "FlowFiles",
    ]),
    .testTarget(name: "FlowSandboxTests", dependencies: ["FlowSandbox", "FlowFiles"]),
    .testTarget(name: "FlowHTTPTests", dependencies: ["FlowFiles",
        "FlowHTTP",
        .product(name: "Hummingbird", package: "hummingbird"),
    ]),
    // Feeds the fuzz targets' crashers and seed corpus (Fuzz/) through the same adapters, which
    // are symlinks to Fuzz/<target>/Adapter.swift (see Fuzz/README.md).
    .testTarget(name: "FuzzRegressionTests", dependencies: [
        "FlowJobFile", "FlowConnector", "FlowModel",
        "FlowXNAT", "FlowLORIS", "FlowGrandChallenge", "FlowAgora", "FlowWebFolder",
    ]),
]
package.targets += testTargets

// libFuzzer targets (issue #23), only when FLOWCTL_FUZZ is set: `scripts/fuzz.sh` builds them
// with `-sanitize=fuzzer` into `.build-fuzz`; the normal build and `swift test` never see them.
// Each is `Fuzz/<name>/`: an Adapter.swift (the parse call, shared with FuzzRegressionTests) and
// a main.swift that hands it to `FuzzDriver` (`LLVMFuzzerTestOneInput`, and a `main` that runs
// libFuzzer's driver: SwiftPM links an executable's own `main`, so libFuzzer's is not used).
if ProcessInfo.processInfo.environment["FLOWCTL_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzDriver", path: "Fuzz/FuzzDriver"))
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzJobFile", ["FlowJobFile"]),
        ("FuzzXNAT", ["FlowXNAT", "FlowConnector", "FlowModel"]),
        ("FuzzLORIS", ["FlowLORIS", "FlowConnector", "FlowModel"]),
        ("FuzzGrandChallenge", ["FlowGrandChallenge", "FlowConnector", "FlowModel"]),
        ("FuzzAgora", ["FlowAgora", "FlowConnector", "FlowModel"]),
        ("FuzzWebFolder", ["FlowWebFolder", "FlowConnector", "FlowModel"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(.executableTarget(name: name, dependencies: dependencies + ["FuzzDriver"],
                                                 path: "Fuzz/\(name)"))
    }
}

// Each module keeps a README.md stating its purpose; it is documentation, not a resource.
for target in package.targets where [.regular, .executable].contains(target.type)
    && !target.name.hasSuffix("Tests") && !target.name.hasPrefix("Fuzz") {
    target.exclude.append("README.md")
}

// The hostile platforms' scenario catalogue is a README beside their code.
package.targets.first { $0.name == "FlowSandbox" }?.exclude.append("Hostile/README.md")
