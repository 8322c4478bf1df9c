import Foundation
import Hummingbird
import Testing
import FlowConnector
import FlowModel
@testable import FlowWebFolder

/// A web server folder with nginx's JSON autoindex, including a hostile listing.
enum Folder {
    static let files: [String: String] = ["notes.txt": "hello", "sub-01/a.dcm": "abc", "sub-01/b.dcm": "defg"]

    static let server = Task { () throws -> String in
        let router = Router()
        router.get("/") { _, _ in index([("sub-01", "directory", nil), ("notes.txt", "file", 5), ("evil", "directory", nil)]) }
        router.get("/sub-01/") { _, _ in index([("a.dcm", "file", 3), ("b.dcm", "file", 4)]) }
        router.get("/evil/") { _, _ in index([("..", "directory", nil)]) }
        router.get("/notes.txt") { _, _ in body(files["notes.txt"]!) }
        router.get("/sub-01/:name") { _, context in body(files["sub-01/" + (context.parameters.get("name") ?? "")] ?? "") }
        let (ports, sink) = AsyncStream<Int>.makeStream()
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { sink.yield($0.localAddress?.port ?? 0); sink.finish() })
        Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        return "http://127.0.0.1:\(await iterator.next() ?? 0)/"
    }

    static func index(_ entries: [(String, String, Int?)]) -> Response {
        let json = "[" + entries.map { name, type, size in
            "{\"name\":\"\(name)\",\"type\":\"\(type)\"" + (size.map { ",\"size\":\($0)" } ?? "") + "}"
        }.joined(separator: ",") + "]"
        return body(json)
    }

    static func body(_ text: String) -> Response {
        Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func connector(options: [String: String] = [:]) async throws -> WebFolderConnector {
        try WebFolderConnector(spec: SourceSpec(name: "web", type: .http, url: try await server.value, options: options))
    }
}

@Suite struct WebFolderTests {
    func dcmFiles() -> Selection {
        Selection(name: "scans", source: "web",
                  filters: [.init(level: "files", field: "file.name", matcher: .glob(Glob("*.dcm")))])
    }

    @Test func aHostileNameInTheIndexIsRefused() async throws {
        let connector = try await Folder.connector()
        let error = await #expect(throws: ConnectorError.self) { try await connector.list(Selection(name: "all", source: "web")) }
        #expect(error.map { "\($0)" }?.contains("unsafe name \"..\"") == true)
    }

    @Test func anIndexFileListsAndFetches() async throws {
        let dir = NSTemporaryDirectory() + "flowctl-web-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "# the scans\nsub-01/a.dcm\n/sub-01/b.dcm\nnotes.txt\n".write(toFile: dir + "/index", atomically: false, encoding: .utf8)
        let connector = try await Folder.connector(options: ["index": dir + "/index"])
        let items = try await connector.list(dcmFiles())
        #expect(items.map(\.id) == ["sub-01/a.dcm", "sub-01/b.dcm"])
        #expect(items.first?.fields["file.dir"] == "sub-01")
        for item in items {
            let part = dir + "/" + item.fields["file.name"]! + ".part"
            let result = try await connector.fetch(item, to: part, resume: false, progress: nil)
            #expect(try String(contentsOfFile: part, encoding: .utf8) == Folder.files[item.id])
            #expect(result.fileSize == Int64(Folder.files[item.id]!.utf8.count))
            #expect(result.checksum(.sha256)?.count == 64)
        }
    }

    @Test func anIndexFileWithDotDotIsRefused() throws {
        let path = NSTemporaryDirectory() + "flowctl-web-index-\(UUID().uuidString)"
        try "sub-01/../../etc/passwd\n".write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        #expect(throws: ConnectorError.self) { try WebFolderConnector.readIndex(path, base: "http://x/") }
    }

    @Test func anIndexFileToleratesCRLFBlanksAndComments() async throws {
        let path = NSTemporaryDirectory() + "flowctl-web-index-\(UUID().uuidString)"
        try "# comment\r\n  sub-01/a.dcm \r\n\n\t\r\n/deep//x y/b.dcm\nhttps://elsewhere.example/c.dcm\n\t# also a comment"
            .write(toFile: path, atomically: false, encoding: .utf8)
        defer { unlink(path) }
        let lines = try WebFolderConnector.readIndex(path, base: "http://x/")
        #expect(lines.map(\.path) == ["sub-01/a.dcm", "deep//x y/b.dcm", "https://elsewhere.example/c.dcm"])

        let connector = try await Folder.connector(options: ["index": path])
        let items = try await connector.list(Selection(name: "all", source: "web"))
        let deep = try #require(items.first { $0.id == "deep//x y/b.dcm" })
        #expect(deep.fields["file.dir"] == "deep/x y")
        #expect(deep.fields["file.name"] == "b.dcm")
        #expect(deep.fields["file.stem"] == "b")
        #expect(deep.url.hasSuffix("/deep/x%20y/b.dcm"))
        #expect(items.first { $0.id.hasPrefix("https:") }?.url == "https://elsewhere.example/c.dcm")
    }

    @Test func theAutoindexIsCrawledFolderByFolder() async throws {
        let connector = try await Folder.connector()
        let files = try await connector.crawl("sub-01")
        #expect(files.map(\.path).sorted() == ["sub-01/a.dcm", "sub-01/b.dcm"])
        #expect(files.compactMap(\.size).sorted() == [3, 4])
    }
}
