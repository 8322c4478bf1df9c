import Testing
@testable import FlowModel

@Suite struct LayoutTemplateTests {
    let fields = ["subject.label": "SUBJ_003", "scan.type": "DWI_ALFA1", "file.name": "dwi.nii.gz", "scan.id": "5"]

    @Test func rendersFieldsAndFilters() throws {
        let t = try LayoutTemplate("{subject.label}/{scan.type|lower}/{file.name|stem}{file.name|ext}")
        #expect(try t.render(fields) == "SUBJ_003/dwi_alfa1/dwi.nii.gz")
        let m = try LayoutTemplate("{subject.label}_{scan.type|map(kinds)}.nii.gz")
        #expect(try m.render(fields, maps: ["kinds": ["DWI_ALFA1": "DWI"]]) == "SUBJ_003_DWI.nii.gz")
        let d = try LayoutTemplate("{experiment.label|default(none)}/x")
        #expect(try d.render(fields) == "none/x")
        #expect(try LayoutTemplate("{{literal}}/{file.name}").render(fields) == "{literal}/dwi.nii.gz")
    }

    @Test func reportsParseErrorsWithOffsets() {
        #expect(throws: LayoutTemplate.ParseError(message: "unclosed `{`", offset: 4)) { try LayoutTemplate("abc/{file.name") }
        #expect(throws: LayoutTemplate.ParseError.self) { try LayoutTemplate("{file.name|lowr}") }
        #expect(throws: LayoutTemplate.ParseError.self) { try LayoutTemplate("{file.name|map}") }
        #expect(throws: LayoutTemplate.ParseError.self) { try LayoutTemplate("{}") }
        #expect(throws: LayoutTemplate.ParseError.self) { try LayoutTemplate("a}") }
    }

    @Test func missingFieldIsAnError() throws {
        #expect(throws: LayoutTemplate.RenderError.missingField("visit.label")) {
            try LayoutTemplate("{visit.label}/{file.name}").render(fields)
        }
    }

    @Test(arguments: [
        ("../../etc/passwd", ".._.._etc_passwd"), ("/abs/path", "_abs_path"), ("...", "..."),
        ("a\u{0}b", "a_b"), ("tab\there", "tab_here"), ("back\\slash", "back_slash"), ("ünïcødé ok", "ünïcødé ok"),
    ])
    func hostileValuesStayOneComponent(value: String, expected: String) throws {
        let t = try LayoutTemplate("out/{file.name}")
        let path = try t.render(["file.name": value])
        #expect(path == "out/" + expected)
        #expect(!path.split(separator: "/").contains(".."))
    }

    @Test func pathFieldsKeepFoldersButRefuseDotDot() throws {
        let t = try LayoutTemplate("{file.path}")
        #expect(try t.render(["file.path": "DICOM/1/img.dcm"]) == "DICOM/1/img.dcm")
        #expect(try t.render(["file.path": "/abs//x/./y"]) == "abs/x/y")
        #expect(throws: LayoutTemplate.RenderError.self) { try t.render(["file.path": "a/../../b"]) }
        #expect(try LayoutTemplate("{file.dir}/{file.name}").render(["file.dir": "", "file.name": "x"]) == "x")
    }

    /// `.`, `..` and empty names say nothing a rewrite could keep: the item fails, named.
    @Test(arguments: [".", "..", ""])
    func namesThatAreNoFileNameAreRefused(value: String) throws {
        let t = try LayoutTemplate("out/{file.name}")
        #expect(throws: LayoutTemplate.RenderError.self) { try t.render(["file.name": value]) }
    }

    @Test func renamedValuesAreReported() throws {
        var renamed: [LayoutTemplate.Rename] = []
        let path = try LayoutTemplate("{subject.label}/{file.name}")
            .render(field: { ["subject.label": "S1", "file.name": "a/b\u{7}.dcm"][$0] }, renamed: &renamed)
        #expect(path == "S1/a_b_.dcm")
        #expect(renamed == [LayoutTemplate.Rename(field: "file.name", original: "a/b\u{7}.dcm", safe: "a_b_.dcm")])
        #expect(renamed[0].description.contains("\\u{7}"))  // escaped in messages
    }

    /// A layout's own text is checked when the job is loaded (so `validate` names the line).
    @Test(arguments: ["../{file.name}", "{file.dir}/../../..", "/abs/{file.name}", "a/../{file.name}"])
    func layoutsThatLeaveTheRootAreRefusedWhenParsed(text: String) {
        #expect(throws: LayoutTemplate.ParseError.self) { try LayoutTemplate(text) }
    }

    @Test func longNamesAreShortenedStablyAndKeepTheirExtension() throws {
        let long = String(repeating: "é", count: 300) + ".nii.gz"
        let path = try LayoutTemplate("{file.name}").render(["file.name": long])
        #expect(path.utf8.count <= SafePath.maxComponentBytes)
        #expect(path.hasSuffix(".nii.gz"))
        let other = try LayoutTemplate("{file.name}").render(["file.name": String(repeating: "é", count: 301) + ".nii.gz"])
        #expect(path != other)
    }

    @Test func bidsLayoutClassifiesScanTypes() throws {
        let path = try LayoutSpec.bids.render(["subject.label": "SUBJ_003", "experiment.label": "MR1",
                                               "scan.type": "DWI_ALFA1", "scan.id": "5", "file.name": "x.nii.gz",
                                               "file.ext": ".nii.gz"])
        #expect(path == "sub-SUBJ003/ses-MR1/dwi/sub-SUBJ003_ses-MR1_run-5_dwi.nii.gz")
        #expect(BIDS.classify("T1w_MPRAGE")?.datatype == "anat")
        #expect(BIDS.classify("rest_BOLD")?.suffix == "task-rest_bold")
        #expect(BIDS.classify("mystery") == nil)
    }

    /// A scan type the rules cannot place is reported (it used to land in a made-up `other/`
    /// folder that fails the BIDS validator); the job's `bids` map places it, and overrides a rule.
    @Test func bidsLayoutReportsUnplaceableTypesAndTakesTheJobsMap() throws {
        let fields = ["subject.label": "S1", "experiment.label": "MR1", "scan.type": "LOCALIZER", "scan.id": "7",
                      "file.name": "x.nii.gz", "file.ext": ".nii.gz"]
        #expect(throws: LayoutTemplate.RenderError.unplaceable("LOCALIZER")) { try LayoutSpec.bids.render(fields) }
        let mapped = LayoutSpec.bids(maps: [BIDS.mapTable: ["LOCALIZER": "anat/T2w", "FLAIR": "anat/T1w"]])
        #expect(try mapped.render(fields) == "sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-7_T2w.nii.gz")
        var flair = fields
        flair["scan.type"] = "FLAIR"
        #expect(try mapped.render(flair) == "sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-7_T1w.nii.gz")
        #expect(mapped.isBIDS && LayoutSpec.bids.isBIDS)
        #expect(BIDS.isMapping("anat/T2w") && !BIDS.isMapping("anat") && !BIDS.isMapping("../x/y"))
    }

    /// A conversion's output is named by the layout without the input's extension.
    @Test func bidsStemLeavesTheExtensionToTheConverter() throws {
        let item = RemoteItem(source: "x", id: "e/scans/2/f.dcm", url: "u", size: 1,
                              fields: ["subject.label": "S1", "experiment.label": "MR1", "scan.type": "DWI", "scan.id": "2",
                                       "file.name": "f.dcm"])
        var renamed: [LayoutTemplate.Rename] = []
        #expect(try LayoutSpec.bids.renderStem(item, renamed: &renamed) == "sub-S1/ses-MR1/dwi/sub-S1_ses-MR1_run-2_dwi")
    }

    @Test func fileNamesKnowDoubleExtensions() {
        #expect(FileName.extension(of: "brain.nii.gz") == ".nii.gz")
        #expect(FileName.stem(of: "brain.nii.gz") == "brain")
        #expect(FileName.extension(of: "t1.mnc") == ".mnc")
        #expect(FileName.extension(of: ".hidden") == "")
        #expect(FileName.extension(of: "noext") == "")
    }
}
