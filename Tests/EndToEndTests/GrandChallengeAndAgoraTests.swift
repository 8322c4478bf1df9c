import Foundation
import Testing

extension EndToEnd {
@Suite struct GrandChallengeAndAgoraTests {
    /// The design's own example: run the lobe segmentation on every CT of coronacases.org,
    /// wait, download the masks; a re-run starts no job and downloads nothing.
    @Test func covidLobesRunsEveryCaseAndARerunStartsNothing() throws {
        let sandbox = try SandboxProcess(["--platforms", "gc"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["covid-lobes.yml"])
        defer { workspace.remove() }
        let args = ["run", workspace.job("covid-lobes.yml"), "--set", "actions.lobes.wait.poll=200ms"]
        let first = try flowctl(args, environment: sandbox.environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("30 done"))
        // One count: `status` says what the run said (its 10 result files counted apart, not as tasks).
        let status = try flowctl(["status", workspace.job("covid-lobes.yml"), "--format", "json"], environment: sandbox.environment)
        let counts = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any]
        #expect(counts?["done"] as? Int == 30)
        #expect(counts?["result_files"] as? Int == 10)
        let listing = try workspace.listing("data/covid-lobes")
        #expect(listing.split(separator: "\n").count == 10)
        #expect(listing.contains("coronacases_001/pulmonary-lobes.mha "))
        try sandbox.resetStats("gc")
        let again = try flowctl(args, environment: sandbox.environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 done"))
        let stats = try sandbox.stats("gc")
        #expect(stats["downloadRequests"] as? Int == 0)
        #expect(stats["uploadRequests"] as? Int == 0)
    }

    /// Seed 001: Wrist exams' PHILIPS_RAW datasets downloaded, tagged, results uploaded, a task
    /// run; the re-run does nothing twice.
    @Test func agoraWristDownloadsTagsUploadsAndRunsOnce() throws {
        let sandbox = try SandboxProcess(["--platforms", "agora"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["agora-wrist.yml"])
        defer { workspace.remove() }
        try workspace.copy("results")
        let args = ["run", workspace.job("agora-wrist.yml"), "--set", "actions.reconstruct.wait.poll=200ms"]
        let first = try flowctl(args, environment: sandbox.environment)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.contains("0 failed"))
        #expect(!(try workspace.listing("out/agora-wrist")).isEmpty)
        try sandbox.resetStats("agora")
        let again = try flowctl(args, environment: sandbox.environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 done"))
        let stats = try sandbox.stats("agora")
        #expect(stats["downloadRequests"] as? Int == 0)
        #expect(stats["uploadRequests"] as? Int == 0)
    }
}
}
