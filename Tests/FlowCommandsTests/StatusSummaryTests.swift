import FlowExecutor
import Testing
@testable import FlowCommands

/// What `status` says after a run was stopped: bytes as people read them, and the tasks it left
/// unfinished (they were not counted at all: "2396 tasks done, 151614992 bytes, 0 failed").
@Suite struct StatusSummaryTests {
    @Test func saysWhatWasLeftUnfinishedInReadableSizes() {
        let records = [
            TaskRecord(id: "pull/a", action: "pull", kind: "download", state: .done, size: 3 << 20),
            TaskRecord(id: "pull/b", action: "pull", kind: "download", state: .done, size: 1 << 20),
            TaskRecord(id: "pull/c", action: "pull", kind: "download", state: .running),
            TaskRecord(id: "pull/d", action: "pull", kind: "download", state: .failed, error: "HTTP 404"),
            TaskRecord(id: "lobes/x/out", action: "lobes", kind: "output-file", state: .done, size: 1 << 20),
        ]
        let summary = StatusSummary(records: records)
        #expect(summary.done == 2 && summary.unfinished == 1 && summary.failed.map(\.id) == ["pull/d"])
        let text = summary.text(journal: "/o/.flowctl/journal.sqlite", shardJournals: 0, job: "jobs/j.yml")
        #expect(text == """
            journal /o/.flowctl/journal.sqlite
              2 tasks done, 1 result files of remote jobs and conversions, 5.0 MiB, 1 unfinished (a run was stopped, or is running), 1 failed
              failed pull/d: HTTP 404
            `flowctl run jobs/j.yml` does what is left; `flowctl plan jobs/j.yml` shows what is still to do.
            """, "\(text)")
    }

    /// After Ctrl-C the journal holds only done tasks: status said "8511 tasks done, 0 failed"
    /// and nothing of the 22,849 the stopped run left.
    @Test func anInterruptedLastRunIsSaid() {
        var summary = StatusSummary(records: [TaskRecord(id: "pull/a", action: "pull", kind: "download", state: .done, size: 10)])
        summary.lastRun = Journal.RunRow(id: 2, job: "j", startedAt: 0, finishedAt: 9, outcome: "interrupted")
        let text = summary.text(journal: "/o/j.sqlite", shardJournals: 0, job: "j.yml")
        #expect(text.contains("\n  the last run, started 1970-01-01T00:00:00Z, was interrupted (Ctrl-C or SIGTERM)\n"
                              + "`flowctl run j.yml` does what is left;"), "\(text)")
        summary.lastRun?.outcome = nil
        #expect(summary.text(journal: "/o/j.sqlite", shardJournals: 0, job: "j.yml").contains("did not end (killed, or running now)"))
        summary.lastRun?.outcome = "succeeded"
        #expect(!summary.text(journal: "/o/j.sqlite", shardJournals: 0, job: "j.yml").contains("last run"))
    }

    @Test func aFinishedRunSaysOnlyWhereToLookNext() {
        let summary = StatusSummary(records: [TaskRecord(id: "pull/a", action: "pull", kind: "download", state: .done, size: 10)])
        let text = summary.text(journal: "/o/j.sqlite", shardJournals: 2, job: "j.yml")
        #expect(text == """
            journal /o/j.sqlite and 2 shard journal(s) beside it
              1 tasks done, 10 B, 0 failed
            `flowctl plan j.yml` shows what is still to do.
            """, "\(text)")
    }
}
