import Foundation
import Testing
import FlowConnector
import FlowModel
@testable import FlowLocal

@Suite final class LocalConnectorTests {
    let root: String

    /// Runs after each test (a class suite gets a fresh instance per test).
    deinit { try? FileManager.default.removeItem(atPath: root) }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-local-\(UUID().uuidString)").path
        for (path, size) in ["sub-01/anat/T1w.nii.gz": 300, "sub-01/dwi/dwi.nii.gz": 5000, "notes.txt": 10,
                             ".flowctl/journal.sqlite": 5, "sub-02/x.nii.gz.part": 7] {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: full, contents: Data(repeating: 65, count: size))
        }
        // A link out of the folder must not be followed.
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: "/etc")
    }

    func connector() -> LocalConnector { LocalConnector(spec: SourceSpec(name: "disk", type: .local, url: root)) }

    @Test func listsFilesWithFieldsSkippingBookkeepingPartsAndLinks() async throws {
        let items = try await connector().list(Selection(name: "all", source: "disk"))
        #expect(items.map(\.id) == ["notes.txt", "sub-01/anat/T1w.nii.gz", "sub-01/dwi/dwi.nii.gz"])
        let t1 = try #require(items.first { $0.id.hasSuffix("T1w.nii.gz") })
        #expect(t1.fields["file.dir"] == "sub-01/anat")
        #expect(t1.fields["file.ext"] == ".nii.gz")
        #expect(t1.fields["file.stem"] == "T1w")
        #expect(t1.size == 300)
        #expect(t1.version != nil)
    }

    @Test func walksDeepTreesWithoutLinksOrBookkeeping() async throws {
        for path in ["a/b/c/d/deep.dcm", "a/.git/objects/x", "a/b/.flowctl/j", "a/.hidden.dcm", "a/b/c/d/e/f.dcm"] {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: full, contents: Data("x".utf8))
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/a/to-sub", withDestinationPath: root + "/sub-01")
        try FileManager.default.createSymbolicLink(atPath: root + "/a/to-file", withDestinationPath: root + "/notes.txt")
        let ids = try await connector().list(Selection(name: "all", source: "disk")).map(\.id)
        #expect(ids == ["a/.hidden.dcm", "a/b/c/d/deep.dcm", "a/b/c/d/e/f.dcm", "notes.txt",
                        "sub-01/anat/T1w.nii.gz", "sub-01/dwi/dwi.nii.gz"])
        let deep = try #require(try await connector().list(Selection(name: "all", source: "disk")).first { $0.id.hasSuffix("f.dcm") })
        #expect(deep.url == root + "/a/b/c/d/e/f.dcm")
        #expect(deep.fields["file.dir"] == "a/b/c/d/e")
    }

    /// Folders of one depth are read on all cores; the walk's order is the same all the same (a
    /// folder's files, then its sub-folders': `f07/zz.dcm` before `f07/z/y.dcm`), and the list
    /// comes out sorted by id.
    @Test func manyFoldersReadAtOnceComeInWalkOrder() async throws {
        var expected: [String] = []
        for folder in 0..<40 {
            for file in ["b.dcm", "a.dcm", "c.dcm"] {
                let path = String(format: "many/f%02d/", folder) + file
                try FileManager.default.createDirectory(atPath: root + "/" + (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: root + "/" + path, contents: Data("x".utf8))
                expected.append(path)
            }
        }
        for path in ["many/f07/z/y.dcm", "many/f07/a.dcm.part", "many/f07/zz.dcm"] {
            try FileManager.default.createDirectory(atPath: root + "/" + (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: root + "/" + path, contents: Data("xy".utf8))
        }
        expected += ["many/f07/z/y.dcm", "many/f07/zz.dcm"]
        let items = try await connector().list(Selection(name: "all", source: "disk"))
        let ids = items.map(\.id)
        #expect(ids == (expected + ["notes.txt", "sub-01/anat/T1w.nii.gz", "sub-01/dwi/dwi.nii.gz"]).sorted())
        let zz = try #require(items.first { $0.id == "many/f07/zz.dcm" })
        #expect(zz.size == 2 && zz.url == root + "/many/f07/zz.dcm" && zz.fields["file.dir"] == "many/f07")
    }

    @Test func aRootThatIsALinkIsListed() async throws {
        let link = root + "-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: root)
        defer { try? FileManager.default.removeItem(atPath: link) }
        let items = try await LocalConnector(spec: SourceSpec(name: "disk", type: .local, url: link))
            .list(Selection(name: "all", source: "disk"))
        #expect(items.map(\.id) == ["notes.txt", "sub-01/anat/T1w.nii.gz", "sub-01/dwi/dwi.nii.gz"])
        #expect(items.first?.url == link + "/notes.txt")
    }

    /// Versions stand for modification times in locks and the journal: they must not change
    /// from what Foundation's resource values gave, to the microsecond, or every file would look changed.
    @Test func versionsAreTheModificationTimesFoundationGave() async throws {
        var generator = SystemRandomNumberGenerator()
        for i in 0..<300 {
            let path = root + "/times/f\(i)"
            try FileManager.default.createDirectory(atPath: root + "/times", withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: path, contents: nil)
            let seconds = Int.random(in: 0...2_000_000_000, using: &generator)
            // Whole microseconds and whole seconds too: where rounding would show.
            let nanoseconds = [Int.random(in: 0..<1_000_000_000, using: &generator), 123_456_000, 0][i % 3]
            var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        }
        let items = try await connector().list(Selection(name: "all", source: "disk")).filter { $0.id.hasPrefix("times/") }
        #expect(items.count == 300)
        for item in items {
            let date = try URL(fileURLWithPath: item.url).resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate
            #expect(item.version == date.map { String(Int64($0.timeIntervalSince1970 * 1_000_000)) }, "\(item.id)")
        }
    }

    @Test func matchersOnNameExtensionAndSize() async throws {
        let selection = Selection(name: "big", source: "disk", filters: [
            .init(level: "files", field: "file.ext", matcher: .glob(Glob(".nii.gz"))),
            .init(level: "files", field: "file.size", matcher: .compare(.gt, 1000)),
        ])
        #expect(try await connector().list(selection).map(\.id) == ["sub-01/dwi/dwi.nii.gz"])
    }

    @Test func fetchCopiesAndHashes() async throws {
        let item = try #require(try await connector().list(Selection(name: "all", source: "disk")).first)
        let part = root + "/copy.part"
        let result = try await connector().fetch(item, to: part, resume: false, progress: nil)
        #expect(result.fileSize == 10)
        #expect(result.checksum(.sha256) == "1d65bf29403e4fb1767522a107c827b8884d16640cf0e3b18c4c1dd107e0d49d")
    }

    @Test func uploadIsIdempotentAndRefusesDotDot() async throws {
        let file = LocalFile(path: root + "/notes.txt", relativePath: "notes.txt", size: 10)
        let first = try await connector().upload(file, into: ["path": "published"], overwrite: false)
        #expect(first.transferred)
        let second = try await connector().upload(file, into: ["path": "published"], overwrite: false)
        #expect(!second.transferred)
        await #expect(throws: ConnectorError.self) {
            try await connector().upload(LocalFile(path: root + "/notes.txt", relativePath: "../../evil", size: 10),
                                         into: [:], overwrite: false)
        }
    }
}
