import ArgumentParser
import FlowModel

/// The `flowctl` command: a declarative pipeline runner for medical-imaging research data.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
public struct Flowctl: AsyncParsableCommand {
    public static let version = "0.1.0"

    public static let configuration = CommandConfiguration(
        commandName: "flowctl",
        abstract: "Run declarative pipelines over medical-imaging research data.",
        discussion: """
            A job file (YAML) names sources (XNAT, LORIS, Grand Challenge, Agora, local folders), \
            selections of their items, and actions: download, upload, tag, run an algorithm and \
            wait for its result. Typical use:

              flowctl validate jobs/covid-lobes.yml     check the file; touches nothing
              flowctl plan jobs/covid-lobes.yml         dry run: what run would do
              flowctl run jobs/covid-lobes.yml          do it, with retries and resume
              flowctl status jobs/covid-lobes.yml       what the last runs did
              flowctl lock jobs/covid-lobes.yml         pin the exact items, checksums
              flowctl run --locked jobs/covid-lobes.yml reproduce that pull, verified
              flowctl verify data/covid-lobes           re-hash the output folder
            """,
        version: version,
        subcommands: [Validate.self, Explore.self, Plan.self, Run.self, Status.self, Report.self, Lock.self, Verify.self, Submit.self, Gather.self, Schema.self]
    )

    public init() {}

    /// Runs the command line; a first word that names no command is refused with the nearest
    /// command, where ArgumentParser would say "2 unexpected arguments: 'plna', 'job.yml'".
    public static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let message = unknownCommand(arguments) { exit(withError: ValidationError(message)) }
        await main(nil)
    }

    /// Why the first argument is no command (`nil` when it is one, an option, or absent), or
    /// what `run` does instead of the option a newcomer reached for (`--dry-run`, `--resume`).
    static func unknownCommand(_ arguments: [String]) -> String? {
        guard let word = arguments.first, !word.isEmpty, !word.hasPrefix("-") else { return nil }
        if word == "run", let option = arguments.first(where: { ["--dry-run", "-n", "--resume", "--continue"].contains($0) }) {
            let job = arguments.dropFirst().first { !$0.hasPrefix("-") } ?? "JOB"
            return option == "--dry-run" || option == "-n"
                ? "`flowctl run` has no \(option): `flowctl plan \(job)` is the dry run (it lists, touches nothing)."
                : "`flowctl run` has no \(option): it resumes by itself; run `flowctl run \(job)` again."
        }
        let names = configuration.subcommands.map { $0._commandName }
        guard !names.contains(word), word != "help" else { return nil }
        if word.hasSuffix(".yml") || word.hasSuffix(".yaml") {
            return "'\(word)' is a job file, not a command: `flowctl plan \(word)` shows what `flowctl run \(word)` would do."
        }
        if let near = Suggest.nearest(word, in: names) {
            return "Unknown command '\(word)'. Did you mean '\(near)'?"
        }
        return "Unknown command '\(word)'. The commands are: \(names.joined(separator: ", "))."
    }
}

/// The output formats of `status` and `verify` (a report, not a graph: no dot or mermaid).
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Options shared by every command that reads a job file.
struct JobOptions: ParsableArguments {
    @Argument(help: "The job file.", completion: .file(extensions: ["yml", "yaml"]))
    var job: String

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override a job-file value, e.g. --set sources.gc.url=https://localhost:8443/api/v1/ (repeatable).",
        valueName: "path=value"))
    var overrides: [String] = []
}
