// swift-tools-version:6.1
// A benchmark harness for FlowHTTP alone, outside the main package (no benchmark code in Sources/).
// The FlowHTTP and CCurl targets are symlinks to the main package's sources, because the root
// package does not export FlowHTTP as a product. Run it through ../nginx-downloads.sh.
import PackageDescription

let package = Package(
    name: "flowhttp-bench",
    targets: [
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl"),
        .target(name: "FlowModel", path: "Sources/FlowModel", exclude: ["README.md"]),
        .target(name: "CFileSystem", path: "Sources/CFileSystem", exclude: ["README.md"]),
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "libcrypto"),
        .target(name: "FlowFiles", dependencies: ["CFileSystem", "COpenSSL"],
                path: "Sources/FlowFiles", exclude: ["README.md"]),
        .target(name: "FlowHTTP", dependencies: ["CCurl", "FlowFiles", "FlowModel"],
                path: "Sources/FlowHTTP", exclude: ["README.md"]),
        .executableTarget(name: "flowhttp-bench", dependencies: ["FlowHTTP", "FlowFiles"]),
    ]
)
