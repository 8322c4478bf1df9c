// The fuzz adapter of Grand Challenge's listing parser: one reply decoded as each kind of page
// the listing reads (`Page<APIImage>`, `Page<APIArchive>`, `Page<APIReaderStudy>`), then images
// -> fields -> file items (`imageFields`, `fileItem`) and containers (`container`). Shared,
// through a symlink, by the libFuzzer target `FuzzGrandChallenge` and `Tests/FuzzRegressionTests`.
import FlowConnector
import FlowModel
@testable import FlowGrandChallenge

enum GrandChallengeFuzzAdapter {
    static let connector = try! GrandChallengeConnector(spec: SourceSpec(
        name: "fuzz", type: .grandChallenge, url: "https://127.0.0.1:9/api/v1/", credentials: ["token": Secret("fuzz")]))

    /// Throws (a `ConnectorError`) when the body is none of the pages; a page that does not fit counts as rejected.
    static func parse(_ bytes: [UInt8]) throws -> (items: Int, rejected: Int) {
        var items = 0, rejected = 0, lastError: (any Error)?
        do {
            let page = try SourceSession.decode(Page<APIImage>.self, bytes, from: "cases/images/")
            for image in page.results {
                let fields = GrandChallengeConnector.imageFields(image)
                for file in image.files { _ = connector.fileItem(file, of: image, fields: fields); items += 1 }
            }
        } catch let error as ConnectorError { rejected += 1; lastError = error }
        do {
            items += try SourceSession.decode(Page<APIArchive>.self, bytes, from: "archives/").results
                .map(GrandChallengeConnector.container).count
        } catch let error as ConnectorError { rejected += 1; lastError = error }
        do {
            items += try SourceSession.decode(Page<APIReaderStudy>.self, bytes, from: "reader-studies/").results
                .map(GrandChallengeConnector.container).count
        } catch let error as ConnectorError { rejected += 1; lastError = error }
        if rejected == 3, let lastError { throw lastError }
        return (items, rejected)
    }
}
