import Foundation
import Testing

/// `flowctl` against `flowctl-sandbox`, as a user runs them: the seeds' jobs end to end.
extension EndToEnd {
@Suite struct XNATAndLORISTests {
    @Test func xnatDwiJobGivesTheSeedTreeAndARerunDoesNothing() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let env = sandbox.environment

        let plan = try flowctl(["plan", workspace.job("xnat-dwi.yml"), "--detailed-exitcode"], environment: env)
        #expect(plan.status == 2, "\(plan.stderr)")
        #expect(plan.stdout.contains("6 to do"))
        #expect(plan.stdout.contains("SUBJ_003_DWI.nii.gz"))

        let first = try flowctl(["run", workspace.job("xnat-dwi.yml")], environment: env)
        #expect(first.status == 0, "\(first.stderr)")
        try expectGolden(try workspace.listing("out/xnat-dwi"), "xnat-dwi.txt")

        try sandbox.resetStats("xnat")
        let again = try flowctl(["run", workspace.job("xnat-dwi.yml")], environment: env)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 done"))
        #expect(try sandbox.stats("xnat")["downloadRequests"] as? Int == 0)
        let noop = try flowctl(["plan", workspace.job("xnat-dwi.yml"), "--detailed-exitcode"], environment: env)
        #expect(noop.status == 0, "\(noop.stdout)")
    }

    /// `run` ends its process as soon as its work is written (no teardown): the last event still
    /// reaches a pipe, and the journal it leaves (its write-ahead log never checkpointed) reads back.
    @Test func aRunEndsWithItsLastEventAndAJournalThatReadsBack() throws {
        let sandbox = try SandboxProcess(["--platforms", "xnat"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["xnat-dwi.yml"])
        defer { workspace.remove() }
        let job = workspace.job("xnat-dwi.yml")
        let run = try flowctl(["run", job, "--events", "json", "-q"], environment: sandbox.environment)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.filter { $0.contains("\"event\":\"finished\"") }.count == 6, "\(run.stdout)")
        let last = try #require(lines.last.flatMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect(last["event"] as? String == "run-finished")
        #expect(last["files"] as? Int == 6)

        let status = try flowctl(["status", job, "--format", "json"], environment: sandbox.environment)
        #expect(status.status == 0, "\(status.stderr)")
        let journal = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(journal["done"] as? Int == 6, "\(status.stdout)")
        #expect(journal["failed"] as? Int == 0)
    }

    @Test func xnatSessionJobSurvivesFaults() throws {
        // 5% 500s, 2% connections cut mid-body, sessions that expire every 2 s: the tree is the same.
        let calm = try SandboxProcess(["--platforms", "xnat"])
        let workspace = try Workspace(jobs: ["xnat-session.yml"])
        defer { workspace.remove() }
        let clean = try flowctl(["run", workspace.job("xnat-session.yml")], environment: calm.environment)
        calm.stop()
        #expect(clean.status == 0, "\(clean.stderr)")
        let expected = try workspace.listing("out/xnat-session")
        try expectGolden(expected, "xnat-session.txt")
        try FileManager.default.removeItem(atPath: workspace.root + "/out")

        let stormy = try SandboxProcess(["--platforms", "xnat", "--seed", "0", "--fault-rate", "500=0.05",
                                         "--cut-after-bytes", "2048", "--cut-rate", "0.02", "--truncate-rate", "0.01",
                                         "--token-lifetime", "2"])
        defer { stormy.stop() }
        let faulty = try flowctl(["run", workspace.job("xnat-session.yml")], environment: stormy.environment)
        #expect(faulty.status == 0, "\(faulty.stderr)")
        #expect(try workspace.listing("out/xnat-session") == expected)
        #expect(faulty.stderr.contains("0 failed"))
    }

    @Test func preventadJobWritesImagesQCAndVisitMetadata() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris", "--loris-candidates", "6"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let first = try flowctl(["run", workspace.job("preventad-mri.yml")], environment: sandbox.environment)
        #expect(first.status == 0, "\(first.stderr)")
        let listing = try workspace.listing("out/preventad")
        try expectGolden(listing, "preventad-mri.txt")
        #expect(listing.contains("/session.json "))
        #expect(listing.contains(".mnc.qc.json "))
        try sandbox.resetStats("loris")
        let again = try flowctl(["run", workspace.job("preventad-mri.yml")], environment: sandbox.environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try sandbox.stats("loris")["downloadRequests"] as? Int == 0)
    }
}
}
