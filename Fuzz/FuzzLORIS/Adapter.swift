// The fuzz adapter of LORIS's listing parser: one JSON reply read as each of the three listings
// it could be — `GET /candidates` (`candidates(in:)`), a visit (`visitFields`) and a visit's
// images (`Files` rows -> `item`). Shared, through a symlink, by the libFuzzer target `FuzzLORIS`
// and `Tests/FuzzRegressionTests`.
import FlowConnector
import FlowModel
@testable import FlowLORIS

enum LORISFuzzAdapter {
    static let connector = try! LORISConnector(spec: SourceSpec(
        name: "fuzz", type: .loris, url: "http://127.0.0.1:9",
        credentials: ["user": Secret("fuzz"), "password": Secret("fuzz")]))

    /// Throws (a `ConnectorError`) when the body is not JSON; a reading that does not fit counts as rejected.
    static func parse(_ bytes: [UInt8]) throws -> (items: Int, rejected: Int) {
        let path = "/candidates/300001/V1"
        let reply = try SourceSession.decode(JSONValue.self, bytes, from: path)
        var items = 0, rejected = 0
        do { items += try LORISConnector.candidates(in: reply).count } catch is ConnectorError { rejected += 1 }
        var visit = ["candidate.CandID": "300001", "visit.label": "V1"]
        do { visit.merge(try LORISConnector.visitFields(reply, path: path)) { $1 } } catch is ConnectorError { rejected += 1 }
        for file in reply["Files"]?.array ?? [] {
            do { _ = try connector.item(file, visit: visit, listing: path); items += 1 } catch is ConnectorError { rejected += 1 }
        }
        return (items, rejected)
    }
}
