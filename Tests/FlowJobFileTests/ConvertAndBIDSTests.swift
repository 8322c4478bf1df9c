import Testing
@testable import FlowJobFile
import FlowModel

/// `convert:` on downloads and the job's own map for the built-in `bids` layout.
@Suite struct ConvertAndBIDSTests {
    static func load(_ actionExtra: String, layouts: String = "") -> LoadResult {
        let text = """
            flowctl: 1
            name: t
            sources:
              xnat: {type: xnat, url: "https://xnat.example.org", user: u, password: p}
            select:
              dicom: {source: xnat, project: p, resource: DICOM}
            \(layouts)
            actions:
              bids:
                download: dicom
                to: out
                layout: bids
            \(actionExtra)
            """
        return JobLoader(environment: [:]).load(path: "job.yml", bytes: Array(text.utf8))
    }

    @Test func convertTakesAToolOrAMappingWithConcurrency() throws {
        let short = Self.load("    convert: dcm2niix")
        #expect(short.errors.isEmpty, "\(short.rendered())")
        #expect(short.job?.action(named: "bids")?.convert == ConvertSpec(tool: "dcm2niix", concurrency: 2))
        let long = Self.load("    convert: {tool: dcm2niix, concurrency: 3}")
        #expect(long.errors.isEmpty, "\(long.rendered())")
        #expect(long.job?.action(named: "bids")?.convert?.concurrency == 3)
    }

    @Test func unknownConvertersAndKeysAreLocated() {
        expectDiagnostics(Self.load("    convert: dcm2nix"), [(13, 14, "unknown converter `dcm2nix`; did you mean `dcm2niix`?")])
        expectDiagnostics(Self.load("    convert: {tool: dcm2niix, threads: 2}"), [(13, 31, "unknown key `threads`")])
    }

    @Test func theBidsLayoutTakesTheJobsScanTypeMap() throws {
        let result = Self.load("", layouts: "layouts:\n  bids:\n    maps:\n      bids: {LOCALIZER: anat/T2w}")
        #expect(result.errors.isEmpty, "\(result.rendered())")
        let layout = try #require(result.job?.layout(named: "bids"))
        #expect(layout.isBIDS)
        #expect(layout.maps == [BIDS.mapTable: ["LOCALIZER": "anat/T2w"]])
        expectDiagnostics(Self.load("", layouts: "layouts:\n  bids:\n    maps:\n      bids: {LOCALIZER: anat}"),
                          [(10, 25, "`anat` is not a BIDS datatype/suffix")])
        expectDiagnostics(Self.load("", layouts: "layouts:\n  bids:\n    path: \"{file.name}\""),
                          [(9, 5, "unknown key `path` in the built-in layout `bids`")])
    }

    @Test func theBidsLayoutTakesTheDatasetsAuthorsAndLicense() throws {
        let result = Self.load("", layouts: """
            layouts:
              bids:
                dataset:
                  Authors: [Ada Lovelace, Alan Turing]
                  Funding: NIH R01
                  License: CC0
            """)
        #expect(result.errors.isEmpty, "\(result.rendered())")
        let layout = try #require(result.job?.layout(named: "bids"))
        #expect(layout.isBIDS)
        #expect(layout.dataset == BIDSDataset.DatasetFields(text: ["License": "CC0"],
                                                            lists: ["Authors": ["Ada Lovelace", "Alan Turing"], "Funding": ["NIH R01"]]))
        expectDiagnostics(Self.load("", layouts: "layouts:\n  bids:\n    dataset: {Name: other}"),
                          [(9, 15, "unknown key `Name` in the `dataset` of layout `bids`")])
    }
}
