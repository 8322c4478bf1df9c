import Foundation
import Testing
import FlowConnector
import FlowModel
@testable import FlowLocal

@Suite struct LocalConnectorTests {
    let root: String

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
