import ArgumentParser
import Foundation
import FlowModel
import FlowReport

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an HTML report of the runs under an output folder.",
        discussion: """
            One self-contained page (nothing fetched from the network): what ran and when, \
            per-source throughput, a timeline of transfers and remote jobs with their retries \
            and waits, every failure with its cause, and the plan's graph. It reads the journal \
            (<dir>/.flowctl/journal.sqlite) and what the last run recorded beside it. Given the \
            job file instead, it finds the journal as `run` does.

              flowctl report out/xnat-dwi
              flowctl report jobs/xnat-dwi.yml -o xnat-dwi-report.html
            """)

    @Argument(help: ArgumentHelp("The output folder of a job (the one holding .flowctl/), or the job file.",
                                 valueName: "dir-or-job"), completion: .file())
    var directory: String

    @Option(name: [.customShort("o"), .long], help: ArgumentHelp(
        "Where to write the page (default: <dir>/.flowctl/report.html).", valueName: "path"))
    var output: String?

    func run() throws {
        var root = directory
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder), !isFolder.boolValue {
            // A job file: its journal's folder (for a job that downloads nothing, in the state directory).
            root = URL(fileURLWithPath: try JobSession.openForJournal(JobOptions.parse([directory])).stateRoot)
                .standardizedFileURL.path
        }
        let path = output ?? ReportFile.defaultPath(forRoot: root)
        do {
            let model = try ReportFile.write(root: root, to: path)
            Console.error(ReportSummary.line(model, path: path))
        } catch {
            Console.error("error: \(ErrorText.clean("\(error)"))")
            throw ExitCode(1)
        }
    }
}

/// The line `report` and `run --report` print.
enum ReportSummary {
    static func line(_ model: ReportModel, path: String) -> String {
        let c = model.counts
        // The counts are the last run's: after a re-run with nothing to do, "0 done" alone read
        // as if the job had done nothing at all.
        return "report: \(path) (last run: \(c.done) done, \(c.skipped) skipped, \(c.failed) failed, \(c.retries) retries; "
            + "\(model.bars.count) tasks on the timeline)"
    }
}
