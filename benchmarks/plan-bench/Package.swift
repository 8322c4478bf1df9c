// swift-tools-version:6.1
// A benchmark harness for the planner alone, outside the main package (no benchmark code in
// Sources/): it times listing, planning and each output format of `flowctl plan` separately.
// The Flow* and CCurl targets are symlinks to the main package's sources, because the root
// package exports no library products for them. Run it through ../plan-scale.sh.
import PackageDescription

let package = Package(
    name: "plan-bench",
    dependencies: [
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "FlowModel", exclude: ["README.md"]),
        .target(name: "FlowJobFile", dependencies: ["FlowModel", "Yams"], exclude: ["README.md"]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),
        .target(name: "FlowHTTP", dependencies: ["CCurl", .product(name: "Crypto", package: "swift-crypto")],
                exclude: ["README.md"]),
        // Dependencies as in the root Package.swift.
        .target(name: "FlowConnector", dependencies: [
            "FlowModel", "FlowHTTP", .product(name: "DequeModule", package: "swift-collections"),
        ], exclude: ["README.md"]),
        .target(name: "FlowLocal", dependencies: ["FlowConnector"], exclude: ["README.md"]),
        .target(name: "FlowPlanner", dependencies: ["FlowModel", "FlowConnector"], exclude: ["README.md"]),
        .executableTarget(name: "plan-bench", dependencies: ["FlowJobFile", "FlowLocal", "FlowPlanner"]),
    ]
)
