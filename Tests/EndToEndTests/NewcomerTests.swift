import Foundation
import Testing

/// Issue #26: what a new user meets in the first hour, against the sandbox.
extension EndToEnd {
@Suite struct NewcomerTests {
    /// gc-reader-study-upload named a folder the repository did not have, and its journal (it
    /// downloads nothing) landed in `jobs/`, inside the user's git repository.
    @Test func theUploadJobRunsAsShippedAndKeepsItsJournalOutOfJobs() throws {
        let sandbox = try SandboxProcess(["--platforms", "gc"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["gc-reader-study-upload.yml"])
        defer { workspace.remove() }
        try workspace.copy("examples")
        var env = sandbox.environment
        env["HOME"] = workspace.root + "/home"
        env["XDG_STATE_HOME"] = ""
        let job = workspace.job("gc-reader-study-upload.yml")
        let first = try flowctl(["run", job], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("3 done"), "\(first.stderr)")
        let inJobs = try FileManager.default.contentsOfDirectory(atPath: workspace.root + "/jobs")
        #expect(inJobs == ["gc-reader-study-upload.yml"])
        let state = try FileManager.default.contentsOfDirectory(atPath: workspace.root + "/home/.local/state/flowctl")
        #expect(state.count == 1 && state[0].hasPrefix("gc-reader-study-upload-"), "\(state)")

        let again = try flowctl(["run", job], environment: env)
        #expect(again.status == 0 && again.stderr.contains("0 done"), "\(again.stderr)")
        let status = try flowctl(["status", job], environment: env)
        #expect(status.stdout.contains("3 tasks done"), "\(status.stdout)")
    }

    /// A misspelt project listed 0 items and exited 0; `--set` took `[A, B]` as one glob.
    @Test func aSelectionThatMatchesNothingSaysSoAndSetTakesALists() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dwi.yml")
        let nothing = try flowctl(["plan", job, "--detailed-exitcode", "--set", "select.dwi.project=testenw"],
                                  environment: sandbox.environment)
        #expect(nothing.status == 2, "\(nothing.stderr)")
        #expect(nothing.stderr.contains("warning: selection `dwi` matches nothing on `xnat`"), "\(nothing.stderr)")

        let two = try flowctl(["plan", job, "--set", "select.dwi.subjects=[SUBJ_003, SUBJ_012]"], environment: sandbox.environment)
        #expect(two.status == 0, "\(two.stderr)")
        #expect(two.stdout.contains("4 to do"), "\(two.stdout)")
        #expect(!two.stdout.contains("SUBJ_007"))

        let typo = try flowctl(["plan", job, "--set", "select.dwi.subjects=[SUBJ_003"], environment: sandbox.environment)
        #expect(typo.status == 1)
        #expect(typo.stderr.contains(" 1 | --set select.dwi.subjects=[SUBJ_003"), "\(typo.stderr)")
    }

    /// The password comes from a command (`pass show xnat`), not the environment; a TLS failure
    /// says where the CA goes.
    @Test func aPasswordCommandAndATLSHint() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat", "--tls", "all"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dwi.yml")
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "password: ${env.XNAT_PASS}", with: "password-command: printenv SECRET_PLACE")
            .write(toFile: job, atomically: true, encoding: .utf8)
        var env = sandbox.environment
        env["SECRET_PLACE"] = env.removeValue(forKey: "XNAT_PASS")
        let plan = try flowctl(["plan", job], environment: env)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("6 to do"), "\(plan.stdout)")

        env["FLOWCTL_SANDBOX_CA"] = ""
        let untrusted = try flowctl(["plan", job], environment: env)
        #expect(untrusted.status == 1)
        #expect(untrusted.stdout.contains("tls: {ca: path}"), "\(untrusted.stdout)")
        #expect(!(untrusted.stdout + untrusted.stderr).contains(sandbox.environment["XNAT_PASS"] ?? "?"))
    }

    /// Plans named items by ids (`images/8926a0b0-.../7601d4ee-...`, `exams/200/series/300/...`)
    /// and tagged each file of an Agora dataset; they show names now, grouped when long.
    @Test func plansShowNamesNotIds() throws {
        let sandbox = try SandboxProcess(["--platforms", "gc,agora,loris", "--loris-candidates", "6"])
        defer { sandbox.stop() }
        let jobs = ["covid-lobes.yml", "agora-wrist.yml", "preventad-mri.yml"]
        let workspace = try Workspace(jobs: jobs)
        defer { workspace.remove() }
        try workspace.copy("results")
        for job in jobs {
            let plan = try flowctl(["plan", workspace.job(job)], environment: sandbox.environment)
            #expect(plan.status == 0, "\(job): \(plan.stderr)")
            let text = plan.stdout.replacingOccurrences(of: workspace.root, with: "<workspace>")
            #expect(!text.contains("images/") && !text.contains("exams/"), "\(text)")
            try expectGolden(text, "plan-" + job.replacingOccurrences(of: ".yml", with: ".txt"))
        }
        let all = try flowctl(["plan", workspace.job("preventad-mri.yml"), "--all"], environment: sandbox.environment)
        let listed = all.stdout.split(separator: "\n").filter { $0.hasPrefix("      + ") }.count
        let tasks = try #require(all.stdout.split(separator: "\n").last.flatMap { Int($0.split(separator: " ").first ?? "") })
        #expect(listed == tasks, "\(all.stdout.suffix(300))")
    }

    /// `flowctl explore` on each platform and a local folder: counts as the sandbox made them.
    @Test func exploreSummarisesEachPlatformAsTheSandboxHoldsIt() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat,loris,gc,agora", "--xnat-subjects", "5",
                                          "--loris-candidates", "4", "--tls", "xnat"])
        defer { sandbox.stop() }
        let jobs = ["xnat-dwi.yml", "preventad-mri.yml", "covid-lobes.yml", "agora-wrist.yml", "local-copy.yml"]
        let workspace = try Workspace(jobs: jobs)
        defer { workspace.remove() }
        try workspace.copy("examples")
        try workspace.copy("results")
        let env = sandbox.environment
        func explore(_ arguments: [String]) throws -> [String: Any] {
            let result = try flowctl(["explore"] + arguments + ["--format", "json"], environment: env)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        }
        func count(_ summary: [String: Any], _ level: String) -> Int? {
            (summary["levels"] as? [[String: Any]])?.first { $0["level"] as? String == level }?["count"] as? Int
        }
        func values(_ summary: [String: Any], _ level: String, _ field: String) -> [String: Int] {
            let levels = summary["levels"] as? [[String: Any]] ?? []
            let fields = levels.first { $0["level"] as? String == level }?["fields"] as? [String: [[String: Any]]] ?? [:]
            return Dictionary(uniqueKeysWithValues: (fields[field] ?? []).map { ($0["value"] as! String, $0["count"] as! Int) })
        }

        let xnat = try explore([workspace.job("xnat-dwi.yml"), "xnat"])
        #expect(count(xnat, "subjects") == 5 && count(xnat, "experiments") == 5 && count(xnat, "scans") == 20)
        #expect(values(xnat, "scans", "scan.type") == ["T1": 5, "DWI_ALFA1": 5, "rDWI_ALFA1": 5, "FLAIR": 5])
        #expect(values(xnat, "resource", "resource.label") == ["DICOM": 20, "NIFTI": 20])

        let loris = try explore([workspace.job("preventad-mri.yml")])
        #expect(count(loris, "candidates") == 4)
        #expect(values(loris, "visits", "visit.label")["PREBL00"] == 4)

        let gc = try explore([workspace.job("covid-lobes.yml")])
        #expect(count(gc, "images") == 10)
        #expect(values(gc, "archive", "archive.slug") == ["coronacases.org": 1])

        let agora = try explore([workspace.job("agora-wrist.yml"), "agora"])
        #expect(values(agora, "project", "project.name") == ["Wrist Study": 1])
        #expect(values(agora, "datasets", "dataset.type")["PHILIPS_RAW"] == 18)
        #expect(count(agora, "exams") == 6)

        let local = try explore([workspace.job("local-copy.yml")])
        #expect(local["files"] as? Int == 2)

        // From flags alone, narrowed by --where: the same counts as the job's view of DWI scans.
        let flags = try explore(["--type", "xnat", "--url", env["XNAT_URL"]!, "--credential", "user=${env.XNAT_USER}",
                                 "--credential", "password=${env.XNAT_PASS}", "--credential", "tls.ca=" + sandbox.caPath,
                                 "--where", "scans=*DWI*", "--depth", "4"])
        #expect(values(flags, "scans", "scan.type") == ["DWI_ALFA1": 5, "rDWI_ALFA1": 5])
        #expect(count(flags, "resource") == nil)
        let text = try flowctl(["explore", workspace.job("xnat-dwi.yml")], environment: env)
        #expect(text.stdout.contains("scan.type: DWI_ALFA1 ×5"), "\(text.stdout)")
    }
}
}
