// The fuzz adapter of Agora's listing parser: a reply as a list (a bare array or a DRF page's
// `results`, as `agoraList` reads it), each row as an exam (`examFields`) and as a dataset whose
// `datafiles` become items (`item(datafile:dataset:context:)`). Shared, through a symlink, by the
// libFuzzer target `FuzzAgora` and `Tests/FuzzRegressionTests`.
import FlowConnector
import FlowModel
@testable import FlowAgora

enum AgoraFuzzAdapter {
    static let connector = try! AgoraConnector(spec: SourceSpec(
        name: "fuzz", type: .agora, url: "http://127.0.0.1:9", credentials: ["api-key": Secret("fuzz")]))
    static let selection = Selection(name: "fuzz", source: "fuzz")

    /// Throws (a `ConnectorError`) when the body is not JSON or not a list; a bad row counts as rejected.
    static func parse(_ bytes: [UInt8]) throws -> (items: Int, rejected: Int) {
        let value = try SourceSession.decode(JSONValue.self, bytes, from: "/api/v1/fuzz/")
        guard let rows = value.array ?? value["results"]?.array else {
            throw ConnectorError.badReply("/api/v1/fuzz/: expected a list or a page of results")
        }
        var items = 0, rejected = 0
        let context = ["project.id": "1", "exam.id": "2"]
        for row in rows {
            if connector.examFields(row, context, selection) != nil { items += 1 }
            for file in row["datafiles"]?.array ?? [] {
                do { _ = try connector.item(datafile: file, dataset: row, context: context); items += 1 }
                catch is ConnectorError { rejected += 1 }
            }
        }
        return (items, rejected)
    }
}
