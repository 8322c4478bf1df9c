// The fuzz adapter of the web folder's listing parsers: one input read both as nginx's JSON
// autoindex (the `[IndexEntry]` that `crawl` decodes, each name then split as `list` splits paths)
// and as an index file of paths or URLs, listed through the connector's own `list` (which reads
// an index file without any request). Shared, through a symlink, by the libFuzzer target
// `FuzzWebFolder` and `Tests/FuzzRegressionTests`.
import Dispatch
import Foundation
import FlowConnector
import FlowModel
@testable import FlowWebFolder

enum WebFolderFuzzAdapter {
    /// Where each input is written for the index-file reading (one file per process).
    static let indexPath = NSTemporaryDirectory() + "/flowctl-fuzz-index-\(ProcessInfo.processInfo.processIdentifier).txt"
    static let connector = try! WebFolderConnector(spec: SourceSpec(
        name: "fuzz", type: .http, url: "http://127.0.0.1:9/data", options: ["index": indexPath]))
    static let selection = Selection(name: "fuzz", source: "fuzz")

    /// Throws (a `ConnectorError`) when the input is neither an autoindex nor a readable index file.
    static func parse(_ bytes: [UInt8]) throws -> (items: Int, rejected: Int) {
        var items = 0, rejected = 0
        do {
            let entries = try SourceSession.decode([WebFolderConnector.IndexEntry].self, bytes, from: "autoindex")
            for entry in entries {
                let path = "sub/" + entry.name
                items += WebFolderConnector.isPlain(path) ? 1 : WebFolderConnector.components(of: path).count
                _ = WebFolderConnector.hasDoubleDot(ArraySlice(Array(path.utf8)))
            }
        } catch is ConnectorError { rejected += 1 }
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: indexPath))
            items += try listBlocking().count
        } catch let error as ConnectorError {
            rejected += 1
            if rejected == 2 { throw error }
        }
        return (items, rejected)
    }

    /// `connector.list(selection)` from synchronous code (the fuzzer's callback is not async).
    static func listBlocking() throws -> [RemoteItem] {
        final class Box: @unchecked Sendable { var result: Result<[RemoteItem], any Error> = .success([]) }
        let box = Box(), done = DispatchSemaphore(value: 0)
        let connector = connector, selection = selection
        Task {
            do { box.result = .success(try await connector.list(selection)) } catch { box.result = .failure(error) }
            done.signal()
        }
        done.wait()
        return try box.result.get()
    }
}
