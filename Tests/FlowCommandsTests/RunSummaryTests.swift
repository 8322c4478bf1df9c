import FlowExecutor
import Foundation
import Testing
@testable import FlowCommands

/// The last words of a run say what to do, not only what failed.
@Suite struct RunSummaryTests {
    /// A full disk listed one "No space left on device (errno 28)" per file and a journal that
    /// could not commit, and left the user to guess whether anything was lost.
    @Test func aFullDiskSaysToFreeSpaceAndThatNothingIsLost() {
        var report = RunReport()
        report.finished = 18
        report.failures = [
            TaskFailure(task: "pull/a.nii.gz", kind: .local, message: "/out/a.nii.gz.part: No space left on device (errno 28)"),
            TaskFailure(task: "journal", kind: .local,
                        message: "cannot write the journal: SQLite error 13: database or disk is full"),
        ]
        let text = RunSummary.text(report)
        #expect(text.contains("\nthe disk (or quota) is full: free some space, or choose another output folder, and run again; "
                              + "finished files are kept and partial ones resume\n  failed pull/a.nii.gz"), "\(text)")
        #expect(TaskFailure(task: "j", kind: .local, message: "cannot write the journal: SQLite error 13: database or disk is full")
            .isOutOfSpace)
        #expect(TaskFailure(task: "q", kind: .local, message: "/o/x: Disk quota exceeded (errno \(EDQUOT))").isOutOfSpace)
    }

    @Test func otherFailuresGetNoSpaceAdvice() {
        var report = RunReport()
        report.failures = [TaskFailure(task: "pull/a", kind: .status, message: "HTTP 404 from XNAT")]
        #expect(!RunSummary.text(report).contains("disk"))
        #expect(!TaskFailure(task: "a", kind: .badReply, message: "No space left on device (errno 28)").isOutOfSpace)
    }
}
