import ArgumentParser
import Foundation
import FlowExecutor
import FlowModel

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the journal says of a job: done, failed, and what is still pending.")

    @OptionGroup var options: JobOptions

    @Option(help: "Output format: text or json.")
    var format: ReportFormat = .text

    func run() async throws {
        let session = try JobSession.open(options, credentials: false)
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
        // Tasks, counted as `run` counts them; the files a remote job produced are rows of their
        // own (`output-file`), counted apart, as are the files a conversion wrote.
        let tasks = records.values.filter { $0.kind != "output-file" }
        let resultFiles = records.values.filter { $0.kind == "output-file" && $0.state == .done }
        let done = tasks.filter { $0.state == .done }
        let failed = tasks.filter { $0.state == .failed }.sorted { $0.id < $1.id }
        let bytes = done.reduce(Int64(0)) { $0 + ($1.size ?? 0) } + resultFiles.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
        if format == .json {
            let object: [String: Any] = [
                "format_version": 1, "journal": path, "done": done.count, "failed": failed.count, "bytes": bytes,
                "result_files": resultFiles.count, "shard_journals": shardJournals,
                "failures": failed.map { ["task": $0.id, "error": $0.error ?? ""] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Console.out(String(decoding: data, as: UTF8.self))
        } else {
            let results = resultFiles.isEmpty ? "" : ", \(resultFiles.count) result files of remote jobs and conversions"
            let shards = shardJournals.isEmpty ? "" : " and \(shardJournals.count) shard journal(s) beside it"
            Console.out("journal \(path)\(shards)\n  \(done.count) tasks done\(results), \(bytes) bytes, \(failed.count) failed")
            for record in failed { Console.out("  failed \(record.id): \(record.error ?? "")") }
            Console.out("Run `flowctl plan \(options.job)` to see what is still pending.")
        }
    }
}
