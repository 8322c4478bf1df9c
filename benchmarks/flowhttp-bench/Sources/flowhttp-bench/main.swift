// flowhttp-bench: downloads files with FlowHTTP the way the executor will (N in flight, each to
// `<name>.part`, sha256 inline, then rename; with UNNAMED=1 to unnamed files linked into place,
// as flowctl does for small files), and prints one machine-readable line.
//
//   flowhttp-bench <base-url> <url-list-file> <out-dir> <parallel>
//
// The URL list holds one path per line (relative to base-url); output names are the last path
// component. Prints: `files=N bytes=B seconds=S files_per_s=F mb_per_s=M peak_rss_mib=R`.
import FlowFiles
import FlowHTTP
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 5, let parallel = Int(arguments[4]) else {
    FileHandle.standardError.write(Data("usage: flowhttp-bench <base-url> <url-list-file> <out-dir> <parallel>\n".utf8))
    exit(2)
}
let base = arguments[1]
let paths = try String(contentsOfFile: arguments[2], encoding: .utf8).split(separator: "\n").map(String.init)
let outDir = arguments[3]
try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)

/// Hands out the next index to whichever worker asks (one lock, no actor hop per file).
final class Cursor: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    func take() -> Int { lock.withLock { defer { next += 1 }; return next } }
}

var configuration = HTTPClientConfiguration()
configuration.maxConnections = parallel
configuration.maxConnectionsPerHost = parallel
let client = try HTTPClient(configuration: configuration)
let cursor = Cursor()
let unnamed = ProcessInfo.processInfo.environment["UNNAMED"] == "1"
let start = ContinuousClock.now
let totalBytes = try await withThrowingTaskGroup(of: Int64.self) { group in
    for _ in 0..<parallel {
        group.addTask {
            var bytes: Int64 = 0
            while true {
                let index = cursor.take()
                guard index < paths.count else { return bytes }
                let path = paths[index]
                let name = String(path.split(separator: "/").last!)
                let part = "\(outDir)/\(name).part"
                let result = try await client.download(HTTPRequest(url: "\(base)/\(path)"), to: part, resume: false, unnamed: unnamed)
                guard result.status == 200 else { throw HTTPError.other(code: result.status, message: "HTTP \(result.status) for \(path)") }
                if let file = result.unnamedFile {
                    try file.link(as: "\(outDir)/\(name)")
                } else {
                    guard rename(part, "\(outDir)/\(name)") == 0 else { throw HTTPError.fileSystem(path: part, errno: errno, message: "rename") }
                }
                bytes += result.bytesWritten
            }
        }
    }
    var total: Int64 = 0
    for try await bytes in group { total += bytes }
    return total
}
let elapsed = ContinuousClock.now - start
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
print(String(format: "files=%d bytes=%lld seconds=%.3f files_per_s=%.0f mb_per_s=%.1f peak_rss_mib=%.1f",
             paths.count, totalBytes, seconds, Double(paths.count) / seconds,
             Double(totalBytes) / seconds / 1e6, Double(usage.ru_maxrss) / 1024))
client.shutdown()
