import ArgumentParser
import Foundation
import FlowExecutor
import FlowModel

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the journal says of a job: tasks done and failed, with their errors.",
        discussion: """
            Reads the journal only (nothing is listed); `flowctl plan JOB` lists the remote and \
            shows what is still to do. Exit status 0 when the journal was read, 1 otherwise.

              flowctl status jobs/xnat-dwi.yml
              flowctl status jobs/xnat-dwi.yml --format json
            """)

    @OptionGroup var options: JobOptions

    @Option(help: "Output format: text or json.")
    var format: ReportFormat = .text

    func run() async throws {
        let session = try JobSession.openForJournal(options)
        let path = Journal.path(forRoot: session.stateRoot)
        let records: [String: TaskRecord]
        // The plain journal and every shard's, as one.
        let shardJournals = JournalSet.paths(forRoot: session.stateRoot).filter { $0 != path }
        do {
            guard let existing = try JournalSet.records(forRoot: session.stateRoot) else {
                Console.out(format == .json ? "{\"format_version\":1,\"journal\":null}" : "no journal yet at \(path): the job has not run")
                return
            }
            records = existing
        } catch {
            Console.error("error: cannot read the journal \(path): \(ErrorText.clean("\(error)"))")
            throw ExitCode(1)
        }
        var summary = StatusSummary(records: records.values)
        // How the last run of the plain journal ended (shards' runs are `gather`'s to summarise).
        summary.lastRun = (try? Journal(path: path, create: false)).flatMap { try? $0.runs().last }
        if format == .json {
            let object: [String: Any] = [
                "format_version": 1, "journal": path, "done": summary.done, "failed": summary.failed.count,
                "unfinished": summary.unfinished, "bytes": summary.bytes,
                "last_run": summary.lastRun.map { ["started": Timestamp.iso8601($0.startedAt), "outcome": $0.outcome ?? "unfinished"] } as Any,
                "result_files": summary.resultFiles, "shard_journals": shardJournals,
                "failures": summary.failed.map { ["task": $0.id, "error": $0.error ?? ""] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Console.out(String(decoding: data, as: UTF8.self))
        } else {
            Console.out(summary.text(journal: URL(fileURLWithPath: path).standardizedFileURL.path,
                                     shardJournals: shardJournals.count, job: options.job))
        }
    }
}

/// What `status` says of a journal's records, counted as `run` counts them: the files a remote
/// job produced are rows of their own (`output-file`), counted apart, as are the files a
/// conversion wrote.
struct StatusSummary {
    var done = 0
    var failed: [TaskRecord] = []
    /// Tasks a run began and did not end: it was stopped (Ctrl-C, a kill) or is running now.
    var unfinished = 0
    var resultFiles = 0
    var bytes: Int64 = 0
    /// The journal's last run: its outcome is nil when it never ended (killed, or still running).
    var lastRun: Journal.RunRow?

    init(records: some Sequence<TaskRecord>) {
        for record in records {
            if record.kind == "output-file" {
                if record.state == .done { resultFiles += 1; bytes += record.size ?? 0 }
                continue
            }
            switch record.state {
            case .done: done += 1; bytes += record.size ?? 0
            case .failed: failed.append(record)
            case .running: unfinished += 1
            }
        }
        failed.sort { $0.id < $1.id }
    }

    func text(journal: String, shardJournals: Int, job: String) -> String {
        let results = resultFiles == 0 ? "" : ", \(resultFiles) result files of remote jobs and conversions"
        let shards = shardJournals == 0 ? "" : " and \(shardJournals) shard journal(s) beside it"
        var text = "journal \(journal)\(shards)\n  \(done) tasks done\(results), \(Quantities.formatBytes(bytes)), "
        if unfinished > 0 { text += "\(unfinished) unfinished (a run was stopped, or is running), " }
        text += "\(failed.count) failed"
        for record in failed { text += "\n  failed \(record.id): \(record.error ?? "")" }
        let ended: String? = switch lastRun?.outcome {
        case "interrupted"?: "was interrupted (Ctrl-C or SIGTERM)"
        case "failed"?: "ended with failures"
        case nil where lastRun != nil: "did not end (killed, or running now)"
        default: nil
        }
        if let ended, let lastRun { text += "\n  the last run, started \(Timestamp.iso8601(lastRun.startedAt)), \(ended)" }
        let next = unfinished > 0 || !failed.isEmpty || ended != nil ? "`flowctl run \(job)` does what is left; " : ""
        return text + "\n\(next)`flowctl plan \(job)` shows what is still to do."
    }
}
