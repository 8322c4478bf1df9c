import ArgumentParser
import Foundation
import Testing
@testable import FlowCommands

/// Golden files of the help texts: a newcomer's first contact; changes show in review.
/// `FLOWCTL_UPDATE_GOLDEN=1 swift test --filter HelpTests` rewrites them.
@Suite struct HelpTests {
    static let commands: [(String, any ParsableCommand.Type)] = [
        ("flowctl", Flowctl.self), ("validate", Validate.self), ("explore", Explore.self), ("plan", Plan.self), ("run", Run.self),
        ("status", Status.self), ("report", Report.self), ("lock", Lock.self), ("verify", Verify.self),
        ("submit", Submit.self), ("gather", Gather.self), ("schema", Schema.self),
    ]

    @Test(arguments: commands.map(\.0))
    func helpMatchesGolden(name: String) throws {
        let command = Self.commands.first { $0.0 == name }!.1
        let text = command == Flowctl.self ? Flowctl.helpMessage(columns: 100)
            : Flowctl.helpMessage(for: command, columns: 100)
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name).txt").path
        if ProcessInfo.processInfo.environment["FLOWCTL_UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        #expect(text == (try String(contentsOfFile: path, encoding: .utf8)))
    }

    @Test func parsesOptionsAndRejectsNonsense() throws {
        let plan = try Flowctl.parseAsRoot(["plan", "jobs/x.yml", "--format", "json", "--detailed-exitcode",
                                            "--set", "sources.a.url=http://h"]) as! Plan
        #expect(plan.format == .json)
        #expect(plan.detailedExitcode)
        #expect(plan.options.overrides == ["sources.a.url=http://h"])
        #expect(throws: (any Error).self) { try Flowctl.parseAsRoot(["plan", "x.yml", "--format", "pdf"]) }
        let run = try Flowctl.parseAsRoot(["run", "x.yml", "-j", "4", "--keep-going", "--events", "json", "--locked"]) as! Run
        #expect(run.jobs == 4 && run.keepGoing && run.events == .json && run.locked)
        #expect(!run.report && run.reportPath == nil)
        // `--report` takes no value, so the job file after it stays the job file.
        let reported = try Flowctl.parseAsRoot(["run", "--report", "x.yml"]) as! Run
        #expect(reported.report && reported.options.job == "x.yml")
        let placed = try Flowctl.parseAsRoot(["run", "x.yml", "--report-to", "r.html"]) as! Run
        #expect(placed.reportPath == "r.html")
        let report = try Flowctl.parseAsRoot(["report", "out", "-o", "r.html"]) as! Report
        #expect(report.directory == "out" && report.output == "r.html")
    }

    /// Only `flowctl` and `explore` showed an example; the overview's examples were wider than a
    /// terminal, so `flowctl --help` broke them mid-phrase. Each command shows one now, in 80 columns.
    @Test(arguments: commands.map(\.0))
    func helpShowsAnExampleThatFitsATerminal(name: String) {
        let command = Self.commands.first { $0.0 == name }!.1
        let discussion = command.configuration.discussion
        let example = name == "flowctl" ? "\n  flowctl " : "\n  flowctl \(name) "
        #expect(discussion.contains(example), "\(name) --help shows no example")
        for line in discussion.split(separator: "\n") where line.hasPrefix("  ") {
            #expect(line.count <= 80, "\(name) --help: \(line.count) columns: \(line)")
        }
    }

    /// A misspelt command said "2 unexpected arguments: 'plna', 'x.yml'"; it names the nearest one now.
    @Test func aMisspeltCommandIsNamedWithTheNearestOne() {
        #expect(Flowctl.unknownCommand(["plna", "x.yml"]) == "Unknown command 'plna'. Did you mean 'plan'?")
        #expect(Flowctl.unknownCommand(["verfy"]) == "Unknown command 'verfy'. Did you mean 'verify'?")
        #expect(Flowctl.unknownCommand(["frobnicate"])?.contains("The commands are: validate, explore, plan, run") == true)
        #expect(Flowctl.unknownCommand(["jobs/x.yml"])?.contains("`flowctl plan jobs/x.yml`") == true)
        // Options a newcomer reaches for: `run` says what does it instead ("Unknown option '--dry-run'").
        #expect(Flowctl.unknownCommand(["run", "--dry-run", "j.yml"]) == "`flowctl run` has no --dry-run: `flowctl plan j.yml` is the dry run (it lists, touches nothing).")
        #expect(Flowctl.unknownCommand(["run", "j.yml", "--resume"]) == "`flowctl run` has no --resume: it resumes by itself; run `flowctl run j.yml` again.")
        #expect(Flowctl.unknownCommand(["submit", "j.yml", "--slurm", "--resume"]) == nil)
        for fine in [["plan", "x.yml"], ["help", "run"], ["--version"], ["-h"], []] {
            #expect(Flowctl.unknownCommand(fine) == nil, "\(fine)")
        }
    }

    /// Issue #26: `status`/`verify --format dot` printed text; `--jobs 0` was taken.
    @Test func rejectsFormatsAndLimitsThatMeanNothing() throws {
        for command in ["status", "verify"] {
            for format in ["dot", "mermaid"] {
                #expect(throws: (any Error).self) { try Flowctl.parseAsRoot([command, "x", "--format", format]) }
            }
            #expect(throws: Never.self) { try Flowctl.parseAsRoot([command, "x", "--format", "json"]) }
        }
        for jobs in ["0", "-3"] {
            #expect(throws: (any Error).self) { try Flowctl.parseAsRoot(["run", "x.yml", "--jobs", jobs]) }
        }
    }
}
