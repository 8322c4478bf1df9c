import Foundation
import Testing
import FlowJobFile
import FlowLocal
import FlowConnector
import FlowModel
@testable import FlowPlanner

/// A folder of small files that every golden test plans over.
struct Scratch {
    let root: String

    init(files: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-planner-\(UUID().uuidString)").path
        for (path, content) in files {
            let full = root + "/data/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: false, encoding: .utf8)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

let jobText = """
    flowctl: 1
    name: golden
    sources:
      disk:
        type: local
        url: data
    select:
      scans:
        source: disk
        files: {name: "*.nii.gz"}
      notes:
        source: disk
        files: {ext: .txt}
    layouts:
      by-subject:
        path: "{file.dir|default(top)}/{file.stem|lower}{file.ext}"
    actions:
      collect:
        download: scans
        to: out
        layout: by-subject
      publish:
        upload: notes
        to: disk
        into: {path: published}
        after: [collect]
    """

let files = [
    "sub-01/anat/T1w.nii.gz": String(repeating: "a", count: 1000),
    "sub-02/anat/T1w.nii.gz": String(repeating: "b", count: 2000),
    "sub-02/dwi/DWI.nii.gz": String(repeating: "c", count: 3000),
    "README.txt": "notes",
]

func plan(in scratch: Scratch, text: String = jobText, completed: any CompletedWork = FilesOnDisk()) async throws -> Plan {
    let result = JobLoader(environment: [:], overrides: ["sources.disk.url=\(scratch.root)/data"])
        .load(path: "jobs/golden.yml", bytes: Array(text.utf8))
    let job = try #require(result.job, "\(result.rendered())")
    let connectors: [String: any Connector] = ["disk": LocalConnector(spec: job.sources[0])]
    let listed = try await Resolver(connectors: connectors).resolve(job)
    return try Planner(baseDirectory: scratch.root, completed: completed).plan(job, resolution: listed)
}

/// Compares with a golden file; `FLOWCTL_UPDATE_GOLDEN=1 swift test` rewrites them.
func expectGolden(_ text: String, _ name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
    if ProcessInfo.processInfo.environment["FLOWCTL_UPDATE_GOLDEN"] == "1" {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }
    let golden = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == golden, sourceLocation: sourceLocation)
}

@Suite struct PlannerTests {
    @Test func textPlanMatchesGolden() async throws {
        let scratch = try Scratch(files: files)
        defer { scratch.remove() }
        let plan = try await plan(in: scratch)
        try expectGolden(PlanRenderer.text(plan), "plan.txt")
        try expectGolden(PlanRenderer.json(plan), "plan.json")
        try expectGolden(PlanRenderer.dot(plan), "plan.dot")
        try expectGolden(PlanRenderer.mermaid(plan), "plan.mmd")
    }

    @Test func upToDateFilesAreSkippedWithTheirReason() async throws {
        let scratch = try Scratch(files: files)
        defer { scratch.remove() }
        // One file already there with the right size, one with the wrong size.
        try FileManager.default.createDirectory(atPath: scratch.root + "/out/sub-01/anat", withIntermediateDirectories: true)
        try String(repeating: "a", count: 1000).write(toFile: scratch.root + "/out/sub-01/anat/t1w.nii.gz", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: scratch.root + "/out/sub-02/anat", withIntermediateDirectories: true)
        try "short".write(toFile: scratch.root + "/out/sub-02/anat/t1w.nii.gz", atomically: false, encoding: .utf8)
        let plan = try await plan(in: scratch)
        let downloads = plan.graph.tasks.filter { $0.kind == .download }
        #expect(downloads.filter(\.isSkipped).map(\.path) == ["sub-01/anat/t1w.nii.gz"])
        #expect(downloads.first { $0.isSkipped }?.skipReason == "exists with the expected size")
        #expect(plan.hasChanges)
    }

    @Test func filesOnDiskAnswersTheSameTaskByTaskAndPerAction() throws {
        let scratch = try Scratch(files: ["out/a/done.dcm": "12345", "out/a/short.dcm": "1", "out/top.dcm": "123"])
        defer { scratch.remove() }
        let root = scratch.root + "/data/out"
        let tasks = [("a/done.dcm", 5), ("a/short.dcm", 5), ("a/missing.dcm", 5), ("gone/x.dcm", 5), ("gone/y.dcm", 5),
                     ("top.dcm", 3), ("a", 5)].map { path, size in
            PlannedTask(id: path, action: "pull", kind: .download,
                        item: RemoteItem(source: "s", id: path, url: "u", size: Int64(size)), path: path, root: root)
        } + [PlannedTask(id: "up", action: "push", kind: .upload, path: root + "/top.dcm")]
        let perTask = tasks.map { FilesOnDisk().skipReason(for: $0) }
        #expect(FilesOnDisk().skipReasons(for: tasks) == perTask)
        #expect(perTask.compactMap { $0 }.count == 2)
    }

    @Test func dependenciesFollowAfter() async throws {
        let scratch = try Scratch(files: files)
        defer { scratch.remove() }
        let plan = try await plan(in: scratch)
        let upload = try #require(plan.graph.tasks.first { $0.kind == .upload })
        #expect(Set(upload.dependsOn) == Set(plan.graph.tasks.filter { $0.action == "collect" }.map(\.id)))
        #expect(try plan.graph.topologicalOrder().last?.kind == .upload)
    }

    @Test func twoItemsAtOnePathAreBothLeftOutAndTheRestIsPlanned() async throws {
        let scratch = try Scratch(files: files)
        defer { scratch.remove() }
        let clashing = jobText.replacingOccurrences(of: "path: \"{file.dir|default(top)}/{file.stem|lower}{file.ext}\"",
                                                    with: "path: \"{file.name}\"")
        let plan = try await plan(in: scratch, text: clashing)
        // The two T1w.nii.gz share a path: neither is written, each is named; the others go on.
        let problems = plan.problems.map(\.task).sorted()
        #expect(problems.count == 2)
        #expect(problems.allSatisfy { $0.hasSuffix("T1w.nii.gz") })
        #expect(plan.problems.allSatisfy { $0.reason.contains("none of them is written") })
        let downloads = plan.graph.tasks.filter { $0.kind == .download }.compactMap(\.path).sorted()
        #expect(downloads == ["DWI.nii.gz"])
    }

    /// A layout that leaves out the file's own name puts every file of a subject on one path:
    /// each item's reason named all its twins, so 10,000 such items made ~10^8 names of text
    /// (440 KB for 320 items, in `plan` and again in `run`'s failures). Now a reason names a few
    /// twins and counts the rest, and the text plan lists `limit` problems, then counts them.
    @Test func aLayoutThatPutsManyItemsOnOnePathSaysSoInBoundedText() throws {
        let job = Job(path: "j.yml", name: "clash", sources: [SourceSpec(name: "x", type: .local, url: "/data")],
                      selections: [Selection(name: "all", source: "x")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out",
                                       layout: .inline("{file.dir}.dcm"))])
        let items = (0..<2_000).map { i in
            RemoteItem(source: "x", id: "S\(i % 10)/f\(i).dcm", url: "/data/\(i)", size: 1,
                       fields: ["file.dir": "S\(i % 10)", "file.name": "f\(i).dcm"])
        }
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(job, items: ["all": items])
        #expect(plan.problems.count == 2_000)
        let reason = try #require(plan.problems.first?.reason)
        #expect(reason.contains("\"S0.dcm\"") && reason.contains("199 other item(s)"), "\(reason)")
        #expect(reason.utf8.count < 400, "\(reason)")
        #expect(reason.contains("none of them is written"))
        let text = PlanRenderer.text(plan)
        #expect(text.utf8.count < 20_000, "\(text.utf8.count) bytes")
        #expect(text.contains("2000 item(s) or listing(s) cannot be planned"))
        #expect(text.contains("... and 1975 more (`--all` lists them)"))
        // `--all` (no limit) names every one.
        #expect(PlanRenderer.text(plan, limit: nil).components(separatedBy: "\n    ! ").count == 2_001)
    }

    @Test func twoActionsWritingOnePathIsAPlanError() async throws {
        let scratch = try Scratch(files: files)
        defer { scratch.remove() }
        let job = Job(path: "j.yml", name: "twice",
                      sources: [SourceSpec(name: "a", type: .local, url: scratch.root), SourceSpec(name: "b", type: .local, url: scratch.root)],
                      selections: [Selection(name: "one", source: "a"), Selection(name: "two", source: "b")],
                      actions: [Action(name: "first", kind: .download, input: .selection("one"), to: "out"),
                                Action(name: "second", kind: .download, input: .selection("two"), to: "out")])
        let items = { (source: String) in [RemoteItem(source: source, id: "x.dcm", url: "/data/x.dcm", size: 1)] }
        let error = try #require(throws: PlanError.self) {
            try Planner(baseDirectory: scratch.root, completed: NothingDone()).plan(job, items: ["one": items("a"), "two": items("b")])
        }
        #expect(error.description.contains("`first`") && error.description.contains("`second`"))
        #expect(error.description.contains("source `a`") && error.description.contains("source `b`"))
    }

    @Test func unsafeNamesFailTheirItemAndRenamesAreReported() throws {
        let job = Job(path: "j.yml", name: "names", sources: [SourceSpec(name: "x", type: .local, url: "/data")],
                      selections: [Selection(name: "all", source: "x")],
                      actions: [Action(name: "pull", kind: .download, input: .selection("all"), to: "out",
                                       layout: .inline("{file.name}"))])
        let items = ["good.dcm", ".", "..", "", "a/b.dcm", "tab\there.dcm"].enumerated().map { index, name in
            RemoteItem(source: "x", id: "item\(index)", url: "/data/\(index)", size: 1, fields: ["file.name": name])
        }
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(job, items: ["all": items])
        #expect(Set(plan.problems.map(\.task)) == ["pull/item1", "pull/item2", "pull/item3"])
        #expect(plan.problems.allSatisfy { $0.reason.contains("unsafe path") })
        let paths = plan.graph.tasks.compactMap(\.path).sorted()
        #expect(paths == ["a_b.dcm", "good.dcm", "tab_here.dcm"])
        #expect(plan.renames["pull/item4"]?.first?.safe == "a_b.dcm")
        #expect(plan.renames["pull/item5"]?.first?.original == "tab\there.dcm")
        #expect(plan.renames["pull/item0"] == nil)
        // `flowctl plan` shows both, and its JSON carries them.
        let text = PlanRenderer.text(plan)
        #expect(text.contains("! pull/item2: unsafe path: the name \"..\" is not a file name"))
        #expect(text.contains("~ pull/item4: `file.name` \"a/b.dcm\" written as \"a_b.dcm\""))
        #expect(text.contains("3 cannot be planned"))
        var json: [UInt8] = []
        PlanRenderer.writeJSON(plan) { json += $0 }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
        #expect((object["problems"] as? [Any])?.count == 3)
        #expect((object["renames"] as? [Any])?.count == 2)
    }

    @Test func runChainsArePerItem() throws {
        let job = Job(path: "j.yml", name: "chain", sources: [SourceSpec(name: "gc", type: .grandChallenge, url: "https://x")],
                      selections: [Selection(name: "ct", source: "gc")],
                      actions: [Action(name: "lobes", kind: .runAlgorithm, input: .selection("ct"), target: "lobe-seg"),
                                Action(name: "masks", kind: .download, input: .outputs(action: "lobes"), to: "out")])
        let items = (1...3).map { RemoteItem(source: "gc", id: "img\($0)", url: "https://x/\($0)") }
        let plan = try Planner(baseDirectory: "/tmp", completed: NothingDone()).plan(job, items: ["ct": items])
        #expect(plan.graph.count == 9)
        let download = try #require(plan.graph["masks/img2"])
        #expect(download.dependsOn == ["lobes/img2#wait"])
        #expect(plan.graph["lobes/img2#wait"]?.dependsOn == ["lobes/img2#run"])
    }
}
