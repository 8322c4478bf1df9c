import ArgumentParser

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

              flowctl validate jobs/covid-lobes.yml   check the file; nothing is touched
              flowctl plan jobs/covid-lobes.yml       dry run: what would be listed, pulled, pushed, run
              flowctl run jobs/covid-lobes.yml        do it: bounded concurrency, retries, resume
              flowctl lock jobs/covid-lobes.yml       pin the exact remote items and checksums
              flowctl run --locked jobs/covid-lobes.yml   reproduce that exact pull, verified
            """,
        version: version,
        subcommands: [Validate.self, Explore.self, Plan.self, Run.self, Status.self, Report.self, Lock.self, Verify.self, Submit.self, Gather.self, Schema.self]
    )

    public init() {}
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
