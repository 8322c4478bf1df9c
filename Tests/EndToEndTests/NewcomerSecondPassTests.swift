import Foundation
import Testing

/// A newcomer's first hour, second pass: what the built `flowctl` says to a misspelt command and
/// to a layout that puts many files on one path.
extension EndToEnd {
@Suite struct NewcomerSecondPassTests {
    /// The README's `explore` example showed figures the sandbox no longer gives (25.5 MiB for
    /// 21.3), and its first commands verified `out/covid-lobes`, a folder the job never writes
    /// (`to: ../data/covid-lobes`). Both are checked against the built flowctl and the jobs now.
    @Test func theREADMEsExamplesAreWhatFlowctlDoes() throws {
        let readme = try String(contentsOfFile: repositoryRoot + "/README.md", encoding: .utf8)
        let lines = readme.components(separatedBy: "\n")
        let command = "    $ flowctl explore jobs/xnat-dwi.yml xnat --where 'subjects=SUBJ_00*'"
        let start = try #require(lines.firstIndex(of: command))
        let shown = lines[(start + 1)...].prefix { !$0.isEmpty }.map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0 != "..." }
        #expect(shown.count >= 5)
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let explore = try flowctl(["explore", workspace.job("xnat-dwi.yml"), "xnat", "--where", "subjects=SUBJ_00*"],
                                  environment: sandbox.environment)
        #expect(explore.status == 0, "\(explore.stderr)")
        let printed = Set(explore.stdout.components(separatedBy: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
        for line in shown { #expect(printed.contains(line), "README shows `\(line)`; flowctl prints:\n\(explore.stdout)") }

        // `flowctl verify|report <dir>/<job>`: the job's download goes to that folder.
        for line in lines where line.hasPrefix("    flowctl verify ") || line.hasPrefix("    flowctl report ") {
            let folder = String(line.split(separator: " ", omittingEmptySubsequences: true)[2])
            let name = (folder as NSString).lastPathComponent
            guard let job = try? String(contentsOfFile: repositoryRoot + "/jobs/\(name).yml", encoding: .utf8) else { continue }
            #expect(job.contains("to: ../\(folder)\n"), "README: `\(line)`, but jobs/\(name).yml writes elsewhere")
        }
    }

    /// A new shell, without the sandbox's (or the site's) credentials: `status` and `report`
    /// refused with "environment variable `XNAT_USER` is not set", though they send nothing.
    @Test func statusAndReportNeedNoCredentials() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dwi.yml")
        let run = try flowctl(["run", job], environment: sandbox.environment)
        #expect(run.status == 0, "\(run.stderr)")
        // The harness passes its own environment on (it cannot unset), so the job is edited to
        // read variables no shell sets.
        let bare = ["XNAT_URL": ""]
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "${env.XNAT_USER}", with: "${env.FLOWCTL_TEST_UNSET_USER}")
            .replacingOccurrences(of: "${env.XNAT_PASS}", with: "${env.FLOWCTL_TEST_UNSET_PASS}")
            .write(toFile: job, atomically: true, encoding: .utf8)
        let status = try flowctl(["status", job], environment: bare)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("6 tasks done, 721.3 KiB, 0 failed"), "\(status.stdout)")
        #expect(!status.stderr.contains("not set"), "\(status.stderr)")
        let report = try flowctl(["report", job], environment: bare)
        #expect(report.status == 0, "\(report.stderr)")
        #expect(report.stderr.contains("(last run: 6 done, 0 skipped, 0 failed, 0 retries; "), "\(report.stderr)")
        // After a re-run with nothing to do, the line says the run skipped all, not "0 done" alone.
        let again = try flowctl(["run", job, "--report"], environment: sandbox.environment.merging(
            ["FLOWCTL_TEST_UNSET_USER": sandbox.environment["XNAT_USER"]!, "FLOWCTL_TEST_UNSET_PASS": sandbox.environment["XNAT_PASS"]!]) { $1 })
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("(last run: 0 done, 6 skipped, 0 failed, 0 retries; "), "\(again.stderr)")
    }

    /// A run whose manifest could not be written said "warning: ..." and exited 0: a partial
    /// failure (`flowctl verify` then has nothing to check against) must exit 1.
    @Test func aManifestThatCannotBeWrittenFailsTheRun() throws {
        let workspace = try Workspace(jobs: ["local-copy.yml"])
        defer { workspace.remove() }
        try workspace.copy("examples")
        let job = workspace.job("local-copy.yml")
        let out = workspace.root + "/out/local-copy"
        try FileManager.default.createDirectory(atPath: out + "/flowctl-manifest.json", withIntermediateDirectories: true)
        let blocked = try flowctl(["run", job])
        #expect(blocked.status == 1, "\(blocked.stderr)")
        #expect(blocked.stderr.contains("error: cannot write the manifest in "), "\(blocked.stderr)")
        #expect(blocked.stderr.contains("2 done"), "\(blocked.stderr)")
        try FileManager.default.removeItem(atPath: out + "/flowctl-manifest.json")
        let again = try flowctl(["run", job])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try flowctl(["verify", out]).status == 0)
    }

    /// `explore` of a source whose listing failed in a branch printed "warning: not listed",
    /// figures without that branch, and exited 0.
    @Test func exploreExitsOneWhenPartOfTheListingFailed() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--hostile"])
        defer { sandbox.stop() }
        let env = sandbox.environment
        let broken = try flowctl(["explore", "--type", "xnat", "--url", env["HOSTILE_XNAT_URL"]!, "--credential", "user=hostile",
                                  "--credential", "password=${env.HOSTILE_XNAT_PASS}", "--where", "subjects=LISTING_NOT_JSON",
                                  "--depth", "2"], environment: env)
        #expect(broken.status == 1, "\(broken.stderr)")
        #expect(broken.stderr.contains("error: not listed: ") && broken.stderr.contains("LISTING_NOT_JSON"), "\(broken.stderr)")
        #expect(broken.stderr.contains("1 part(s) of the listing failed"), "\(broken.stderr)")
    }

    /// `flowctl plna job.yml` said "2 unexpected arguments: 'plna', 'job.yml'".
    @Test func aMisspeltCommandNamesTheNearestOne() throws {
        let typo = try flowctl(["plna", "jobs/xnat-dwi.yml"])
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("Error: Unknown command 'plna'. Did you mean 'plan'?"), "\(typo.stderr)")
        #expect(!typo.stderr.contains("unexpected argument"), "\(typo.stderr)")
        let file = try flowctl(["jobs/xnat-dwi.yml"])
        #expect(file.status == 64)
        #expect(file.stderr.contains("`flowctl plan jobs/xnat-dwi.yml`"), "\(file.stderr)")
        // A real command and the help still work.
        #expect(try flowctl(["help", "plan"]).stdout.contains("flowctl plan jobs/xnat-dwi.yml"))
        #expect(try flowctl(["--version"]).status == 0)
    }

    /// A layout without the file's name put a subject's 16 DICOM files on one path: `plan` printed
    /// each file naming its 15 twins (440 KB for 320 files; quadratic), `run` again at its end.
    @Test func aLayoutThatPutsFilesOnOnePathStaysReadable() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-session.yml")
        let clash = ["--set", "actions.pull.layout=s-{subject.label}.dcm", "--set", "select.session.subjects=*"]
        let plan = try flowctl(["plan", job] + clash, environment: sandbox.environment)
        #expect(plan.status == 1)
        #expect(plan.stdout.contains("item(s) or listing(s) cannot be planned"), "\(plan.stdout.prefix(2000))")
        #expect(plan.stdout.contains("15 other item(s) ("), "\(plan.stdout.prefix(2000))")
        #expect(plan.stdout.contains("more (`--all` lists them)"), "\(plan.stdout.prefix(2000))")
        #expect(plan.stdout.utf8.count < 20_000, "\(plan.stdout.utf8.count) bytes")
        let run = try flowctl(["run", job] + clash, environment: sandbox.environment)
        #expect(run.status == 1)
        // Each failure is named, in a line that names a few twins, not all.
        let failures = run.stderr.split(separator: "\n").filter { $0.contains("failed pull/") }
        #expect(failures.count >= 320, "\(run.stderr.prefix(2000))")
        #expect(failures.allSatisfy { $0.utf8.count < 1_000 }, "\(failures.map(\.utf8.count).max() ?? 0) bytes in a line")
    }
}
}
