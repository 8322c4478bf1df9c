import Foundation
import Testing
import FlowModel
import FlowPlanner
@testable import FlowExecutor

/// `plan` after a run said why work is skipped, but not why work done before is to do again:
/// "2 to do, 139.2 KiB; 4 skipped" after a file was deleted and another changed on disk.
@Suite struct RedoReasonTests {
    @Test func workDoneBeforeSaysWhyItIsToDoAgain() async throws {
        let fixture = try Fixture()
        defer { fixture.remove() }
        let connector = ScriptedConnector()
        let items = connector.items(6)
        let report = try await fixture.run(fixture.downloadJob(count: 6), items: ["all": items], connector: connector)
        #expect(report.succeeded)
        try FileManager.default.removeItem(atPath: fixture.root + "/out/item0.bin")
        try Data("short".utf8).write(to: URL(fileURLWithPath: fixture.root + "/out/item1.bin"))
        var listed = items
        listed[2].size = 1234  // changed upstream
        listed.append(RemoteItem(source: "src", id: "item9", url: "x", size: 1000, fields: ["file.name": "item9.bin"]))
        let completed = JournalState(records: try fixture.journal.records())
        let plan = try Planner(baseDirectory: fixture.root, completed: completed)
            .plan(fixture.downloadJob(count: 7), items: ["all": listed])
        #expect(plan.redoReasons == [
            "pull/item0": "done in an earlier run, missing on disk now",
            "pull/item1": "done in an earlier run, another size on disk now",
            "pull/item2": "changed upstream since an earlier run fetched it",
        ])
        let text = PlanRenderer.text(plan)
        #expect(text.contains("""
                4 to do, 4.1 KiB; 3 skipped
                  3 skipped: downloaded in an earlier run, unchanged
                  1 to do again: changed upstream since an earlier run fetched it
                  1 to do again: done in an earlier run, another size on disk now
                  1 to do again: done in an earlier run, missing on disk now
                  + item0.mha/item0.bin -> item0.bin (1000 B)
            """), "\(text)")
    }

    @Test func aFailedOrUnfinishedTaskSaysSo() {
        let task = PlannedTask(id: "pull/a", action: "pull", kind: .download,
                               item: RemoteItem(source: "s", id: "a", url: "x", size: 1), path: "a", root: "/nonexistent")
        let failed = TaskRecord(id: "pull/a", action: "pull", kind: "download", state: .failed, error: "HTTP 500")
        #expect(JournalState(records: [failed.id: failed]).redoReason(for: task) == "failed in an earlier run")
        let begun = TaskRecord(id: "pull/a", action: "pull", kind: "download", state: .running)
        #expect(JournalState(records: [begun.id: begun]).redoReason(for: task) == "begun in an earlier run that stopped; resumes")
        #expect(JournalState(records: [:]).redoReason(for: task) == nil)
    }
}
