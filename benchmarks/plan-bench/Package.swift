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
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
    ],
    targets: [
        .target(name: "FlowModel", exclude: ["README.md"]),
        .target(name: "FlowJobFile", dependencies: ["FlowModel", "Yams"], exclude: ["README.md"]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto"),
        .target(name: "CFileSystem", exclude: ["README.md"]),
        .target(name: "FlowFiles", dependencies: ["CFileSystem", "COpenSSL"], exclude: ["README.md"]),
        .target(name: "FlowHTTP", dependencies: ["CCurl", "FlowFiles", "FlowModel"], exclude: ["README.md"]),
        // Dependencies as in the root Package.swift.
        .target(name: "FlowConnector", dependencies: [
            "FlowFiles", "FlowModel", "FlowHTTP", .product(name: "DequeModule", package: "swift-collections"),
        ], exclude: ["README.md"]),
        .target(name: "FlowLocal", dependencies: ["FlowFiles", "FlowConnector", "FlowModel"], exclude: ["README.md"]),
        .target(name: "FlowPlanner", dependencies: ["FlowModel", "FlowConnector"], exclude: ["README.md"]),
        .executableTarget(name: "plan-bench", dependencies: ["FlowJobFile", "FlowLocal", "FlowPlanner"]),
    ]
)
