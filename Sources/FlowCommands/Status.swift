import ArgumentParser
import Foundation
import FlowExecutor

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the journal says of a job: done, failed, and what is still pending.")

    @OptionGroup var options: JobOptions

    @Option(help: "Output format: text or json.")
    var format: Plan.Format = .text

    func run() async throws {
        let session = try JobSession.open(options)
        let path = Journal.path(forRoot: session.stateRoot)
        guard FileManager.default.fileExists(atPath: path) else {
            Console.out(format == .json ? "{\"format_version\":1,\"journal\":null}" : "no journal yet at \(path): the job has not run")
            return
        }
        let records = try Journal(path: path, create: false).records()
        let done = records.values.filter { $0.state == .done }
        let failed = records.values.filter { $0.state == .failed }.sorted { $0.id < $1.id }
        let bytes = done.reduce(Int64(0)) { $0 + ($1.size ?? 0) }
        if format == .json {
            let object: [String: Any] = [
                "format_version": 1, "journal": path, "done": done.count, "failed": failed.count, "bytes": bytes,
                "failures": failed.map { ["task": $0.id, "error": $0.error ?? ""] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Console.out(String(decoding: data, as: UTF8.self))
        } else {
            Console.out("journal \(path)\n  \(done.count) done (\(bytes) bytes), \(failed.count) failed")
            for record in failed { Console.out("  failed \(record.id): \(record.error ?? "")") }
            Console.out("Run `flowctl plan \(options.job)` to see what is still pending.")
        }
    }
}
