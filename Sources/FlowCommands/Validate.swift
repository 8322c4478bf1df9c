import ArgumentParser
import FlowExecutor
import FlowJobFile

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check job files and report every problem as file:line:col; touches nothing.",
        discussion: """
            Exit status 0 when every file is valid (warnings allowed), 1 when any has an error. \
            Unset environment variables are warnings here, errors for plan and run.

              flowctl validate jobs/*.yml
              flowctl validate jobs/xnat-dwi.yml --set select.dwi.subjects='[SUBJ_003]'
            """)

    @Argument(help: "Job files to check.", completion: .file(extensions: ["yml", "yaml"]))
    var files: [String]

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a job-file value (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    func run() throws {
        let loader = JobLoader(overrides: overrides, tolerateUnsetEnvironment: true)
        var failed = false
        for file in files {
            let result = loader.load(path: file)
            if !result.diagnostics.isEmpty { Console.error(result.rendered()) }
            // A converter the job names must be on this machine: said now, not half-way through a run.
            let missing = result.job.map { Converter.missing(in: $0) } ?? []
            for message in missing { Console.error("\(file): error: \(message)") }
            if result.errors.isEmpty && missing.isEmpty {
                let warnings = result.warnings.count
                Console.out("\(file): valid" + (warnings > 0 ? " (\(warnings) warning\(warnings == 1 ? "" : "s"))" : ""))
            } else {
                failed = true
                let n = result.errors.count + missing.count
                Console.error("\(file): \(n) error\(n == 1 ? "" : "s")")
            }
        }
        if failed { throw ExitCode(1) }
    }
}
