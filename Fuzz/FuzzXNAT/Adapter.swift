// The fuzz adapter of XNAT's listing parser: a reply body -> `XNATReply.rows` (the ResultSet
// table every XNAT listing goes through) -> each row as a file item (`fileItem`). Shared, through
// a symlink, by the libFuzzer target `FuzzXNAT` and `Tests/FuzzRegressionTests`.
import FlowConnector
import FlowModel
@testable import FlowXNAT

enum XNATFuzzAdapter {
    static let connector = try! XNATConnector(spec: SourceSpec(name: "fuzz", type: .xnat, url: "http://127.0.0.1:9"))
    static let resource = ["project.id": "P", "subject.id": "S", "experiment.id": "E", "scan.id": "1", "resource.label": "NIFTI"]

    /// Throws (a `ConnectorError`) when the body is no ResultSet; a bad row counts as rejected.
    static func parse(_ bytes: [UInt8]) throws -> (items: Int, rejected: Int) {
        let listing = "/data/experiments/E/scans/1/resources/NIFTI/files"
        let rows = try XNATReply.rows(bytes, from: listing)
        var items = 0, rejected = 0
        for row in rows {
            do {
                if try connector.fileItem(row, resource: resource, listing: listing) != nil { items += 1 }
            } catch is ConnectorError { rejected += 1 }
        }
        return (items, rejected)
    }
}
