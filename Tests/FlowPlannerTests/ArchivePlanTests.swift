import Foundation
import Testing
import FlowModel
@testable import FlowPlanner

/// A download with `archive:` plans one archive task per scan (resource, session) before the
/// downloads of its files, which wait for it; an archive whose files are done is skipped.
@Suite struct ArchivePlanTests {
    static func file(_ experiment: String, scan: String, resource: String = "DICOM", _ n: Int) -> RemoteItem {
        RemoteItem(source: "xnat", id: "\(experiment)/scans/\(scan)/resources/\(resource)/files/\(n).dcm", url: "https://x/\(n)",
                   size: 10, checksums: [Checksum(.md5, "m\(n)")],
                   fields: ["experiment.id": experiment, "experiment.label": experiment, "scan.id": scan, "scan.type": "T1",
                            "resource.label": resource, "file.name": "\(n).dcm", "file.path": "\(n).dcm"])
    }

    static func job(_ spec: ArchiveSpec, to: String = "/tmp/out") -> Job {
        var action = Action(name: "pull", kind: .download, input: .selection("s"), to: to,
                            layout: .inline("{experiment.label}/{scan.id}/{resource.label}/{file.name}"))
        action.archive = spec
        return Job(path: "/tmp/job.yml", name: "t", sources: [SourceSpec(name: "xnat", type: .xnat, url: "https://x")],
                   selections: [Selection(name: "s", source: "xnat")], actions: [action])
    }

    static let items = [file("E1", scan: "1", 1), file("E1", scan: "1", 2), file("E1", scan: "2", 3),
                        file("E1", scan: "2", resource: "NIFTI", 4), file("E2", scan: "1", 5)]

    @Test("per scan (the default): one archive per scan, first in the plan, its files waiting for it")
    func perScan() throws {
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(Self.job(ArchiveSpec()), items: ["s": Self.items])
        let archives = plan.graph.tasks.filter { $0.kind == .downloadArchive }
        #expect(archives.map(\.id) == ["pull/E1/scans/1#archive", "pull/E1/scans/2#archive", "pull/E2/scans/1#archive"])
        #expect(archives.map { $0.parameters["members"] } == ["2", "2", "1"])
        let downloads = plan.graph.tasks.filter { $0.kind == .download }
        #expect(downloads.count == 5)
        #expect(downloads.map { $0.parameters["archive"] ?? "" } == ["pull/E1/scans/1#archive", "pull/E1/scans/1#archive",
                                                                      "pull/E1/scans/2#archive", "pull/E1/scans/2#archive",
                                                                      "pull/E2/scans/1#archive"])
        for d in downloads { #expect(d.dependsOn == [d.parameters["archive"]!]) }
        // Each archive comes right before its first file.
        #expect(plan.graph.tasks.map(\.kind).prefix(3) == [.downloadArchive, .download, .download])
        #expect(PlanRenderer.text(plan).contains("zip of scan E1/scans/1 (2 file(s))"))
    }

    @Test("per session and per resource")
    func units() throws {
        let session = try Planner(baseDirectory: "/tmp", completed: NothingDone())
            .plan(Self.job(ArchiveSpec(format: "tar.gz", per: .session)), items: ["s": Self.items])
        #expect(session.graph.tasks.filter { $0.kind == .downloadArchive }.map(\.id) == ["pull/E1#archive", "pull/E2#archive"])
        let resource = try Planner(baseDirectory: "/tmp", completed: NothingDone())
            .plan(Self.job(ArchiveSpec(per: .resource)), items: ["s": Self.items])
        #expect(resource.graph.tasks.filter { $0.kind == .downloadArchive }.count == 4)
    }

    /// Skips downloads by id, as a journal would.
    struct Done: CompletedWork {
        var ids: Set<String>
        func skipReason(for task: PlannedTask) -> String? { ids.contains(task.id) ? "done" : nil }
    }

    @Test("an archive whose files are all done is skipped; one with a file to do is fetched")
    func skipping() throws {
        let done = Done(ids: ["pull/E1/scans/1/resources/DICOM/files/1.dcm", "pull/E1/scans/1/resources/DICOM/files/2.dcm",
                              "pull/E1/scans/2/resources/DICOM/files/3.dcm"])
        let plan = try Planner(baseDirectory: "/tmp", completed: done).plan(Self.job(ArchiveSpec()), items: ["s": Self.items])
        let archives = plan.graph.tasks.filter { $0.kind == .downloadArchive }
        #expect(archives.map(\.isSkipped) == [true, false, false])
    }

    @Test("an archive an earlier run fetched is not fetched again while its files not yet journaled are on disk")
    func fetchedBefore() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("archive-plan-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/E2/1/DICOM", withIntermediateDirectories: true)
        try Data(count: 10).write(to: URL(fileURLWithPath: root + "/E2/1/DICOM/5.dcm"))
        // The journal says the archives were fetched; none of their files are journaled.
        let done = Done(ids: ["pull/E1/scans/1#archive", "pull/E2/scans/1#archive"])
        let plan = try Planner(baseDirectory: "/tmp", completed: done).plan(Self.job(ArchiveSpec(), to: root), items: ["s": Self.items])
        let archives = Dictionary(uniqueKeysWithValues: plan.graph.tasks.filter { $0.kind == .downloadArchive }.map { ($0.id, $0.isSkipped) })
        #expect(archives["pull/E2/scans/1#archive"] == true)   // its one file is there at its size
        #expect(archives["pull/E1/scans/1#archive"] == false)  // its files are missing: fetched again
        #expect(archives["pull/E1/scans/2#archive"] == false)  // never fetched
    }
}
