import Testing
import FlowModel
@testable import FlowPlanner

/// A download with `convert:` plans its originals under `sourcedata/` and one conversion per scan.
@Suite struct ConversionPlanTests {
    static func dicom(_ subject: String, scan: String, type: String, file: Int, size: Int64 = 100) -> RemoteItem {
        RemoteItem(source: "xnat", id: "E_\(subject)/scans/\(scan)/resources/DICOM/files/\(file).dcm", url: "https://x/\(file)",
                   size: size, checksums: [Checksum(.md5, "\(size)")],
                   fields: ["subject.label": subject, "experiment.label": "MR1", "scan.id": scan, "scan.type": type,
                            "file.name": "\(subject).MR.\(scan).\(file).dcm"])
    }

    static func job() -> Job {
        var action = Action(name: "bids", kind: .download, input: .selection("dicom"), to: "/tmp/out", layout: .named("bids"))
        action.convert = ConvertSpec(tool: "dcm2niix", concurrency: 3)
        return Job(path: "/tmp/job.yml", name: "t", sources: [SourceSpec(name: "xnat", type: .xnat, url: "https://x")],
                   selections: [Selection(name: "dicom", source: "xnat")], actions: [action])
    }

    static func items(t1Size: Int64 = 100) -> [RemoteItem] {
        (1...2).map { dicom("S1", scan: "1", type: "T1", file: $0, size: $0 == 2 ? t1Size : 100) }
            + (1...2).map { dicom("S1", scan: "2", type: "DWI", file: $0) }
    }

    @Test func originalsGoToSourcedataAndEachScanConvertsOnceAfterItsFiles() throws {
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(Self.job(), items: ["dicom": Self.items()])
        let downloads = plan.graph.tasks.filter { $0.kind == .download }
        #expect(downloads.map { $0.path ?? "" } == [
            "sourcedata/sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w/S1.MR.1.1.dcm",
            "sourcedata/sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w/S1.MR.1.2.dcm",
            "sourcedata/sub-S1/ses-MR1/dwi/sub-S1_ses-MR1_run-2_dwi/S1.MR.2.1.dcm",
            "sourcedata/sub-S1/ses-MR1/dwi/sub-S1_ses-MR1_run-2_dwi/S1.MR.2.2.dcm",
        ])
        let conversions = plan.graph.tasks.filter { $0.kind == .convert }
        #expect(conversions.map(\.id) == ["bids/sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w#convert",
                                          "bids/sub-S1/ses-MR1/dwi/sub-S1_ses-MR1_run-2_dwi#convert"])
        #expect(conversions[0].dependsOn == Array(downloads.prefix(2).map(\.id)))
        #expect(conversions[0].path == "sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w.nii.gz")
        #expect(conversions[0].parameters["input"] == "sourcedata/sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w")
        #expect(conversions[0].parameters["lane"] == ConvertSpec.lane(of: "bids"))
        #expect(PlanRenderer.text(plan).contains("dcm2niix sourcedata/sub-S1/ses-MR1/anat/sub-S1_ses-MR1_run-1_T1w (2 file(s))"))
    }

    @Test func aChangedInputChangesOnlyItsScansFingerprint() throws {
        let planner = Planner(baseDirectory: "/tmp", completed: NothingDone())
        let before = try planner.plan(Self.job(), items: ["dicom": Self.items()]).graph.tasks.filter { $0.kind == .convert }
        let after = try planner.plan(Self.job(), items: ["dicom": Self.items(t1Size: 101)]).graph.tasks.filter { $0.kind == .convert }
        #expect(before[0].parameters["fingerprint"] != after[0].parameters["fingerprint"])
        #expect(before[1].parameters["fingerprint"] == after[1].parameters["fingerprint"])
    }

    @Test func aScanTypeTheLayoutCannotPlaceIsReportedNotGuessed() throws {
        let items = Self.items() + [Self.dicom("S1", scan: "9", type: "LOCALIZER", file: 1)]
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(Self.job(), items: ["dicom": items])
        #expect(plan.problems.count == 1)
        #expect(plan.problems.first?.reason.contains("scan type \"LOCALIZER\" has no BIDS datatype") == true)
        #expect(plan.graph.tasks.count == 6)  // the other scans: 4 downloads, 2 conversions
    }
}
