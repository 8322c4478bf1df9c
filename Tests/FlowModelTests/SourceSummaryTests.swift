import Testing
@testable import FlowModel

/// `flowctl explore`'s summary: distinct values per field, counted per object of their level.
@Suite struct SourceSummaryTests {
    /// Two subjects, each with one session of three scans (T1w, DWI, DWI), two files per scan.
    static let items: [RemoteItem] = ["S1", "S2"].flatMap { subject in
        [("1", "T1w"), ("2", "DWI_ALFA1"), ("3", "DWI_ALFA1")].flatMap { scan, type in
            (1...2).map { file in
                RemoteItem(source: "xnat", id: "\(subject)/MR1/\(scan)/\(file)", url: "", size: subject == "S2" && file == 2 ? nil : 10,
                           fields: ["project.id": "p", "subject.label": subject, "subject.id": "X_\(subject)",
                                    "experiment.label": "\(subject)_MR1", "experiment.id": "E_\(subject)",
                                    "scan.id": scan, "scan.type": type, "resource.label": "DICOM",
                                    "file.name": "\(scan)-\(file).dcm"])
            }
        }
    }

    @Test func countsObjectsOfEachLevelNotFiles() throws {
        let summary = SourceSummary(items: Self.items, catalog: .xnat)
        #expect(summary.files == 12)
        #expect(summary.bytes == 90)
        #expect(summary.unknownSizes == 3)
        #expect(summary.levels.map(\.key) == ["project", "subjects", "experiments", "scans", "resource", "files"])
        #expect(summary.levels.map(\.count) == [1, 2, 2, 6, 6, 12])
        let scans = try #require(summary.levels.first { $0.key == "scans" })
        let types = try #require(scans.fields.first { $0.name == "scan.type" })
        #expect(types.values.map(\.value) == ["DWI_ALFA1", "T1w"])
        #expect(types.values.map(\.count) == [4, 2])
        #expect(types.values.map(\.bytes) == [60, 30])
        #expect(summary.text(source: "xnat").contains("scan.type: DWI_ALFA1 ×4 (60 B), T1w ×2 (30 B)"))
    }

    @Test func depthAndLimitCutTheSummaryNotTheCounts() {
        let summary = SourceSummary(items: Self.items, catalog: .xnat, depth: 2)
        #expect(summary.levels.map(\.key) == ["project", "subjects"])
        #expect(summary.files == 12)
        let text = SourceSummary(items: Self.items, catalog: .xnat).text(source: "xnat", limit: 2)
        #expect(text.contains("file.name: 1-1.dcm ×2 (20 B), 1-2.dcm ×2 (10 B), ... 4 more distinct values"), "\(text)")
        #expect(text.contains("subject.label: S1 ×1 (60 B), S2 ×1 (30 B)"), "\(text)")
        #expect(text.contains("experiment.id: E_S1 ×1 (60 B), E_S2 ×1 (30 B)"), "\(text)")
        let named = SourceSummary(items: Self.items, catalog: .xnat).text(source: "xnat", limit: 1)
        #expect(named.contains("subject.label: 2 distinct, one each: S1, S2\n"), "\(named)")
        #expect(named.contains("file.size: 10 B .. 10 B"), "\(named)")
    }

    @Test func jsonListsEveryValue() throws {
        let json = SourceSummary(items: Self.items, catalog: .xnat).json(source: "xnat", type: .xnat)
        #expect(json.contains("\"format_version\" : 1"))
        #expect(json.contains("\"value\" : \"T1w\""))
    }
}
