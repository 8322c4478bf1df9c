import Foundation
import Testing
@testable import FlowCommands

/// The batch scripts of `flowctl submit --slurm`, pure text: golden files show every change.
/// `FLOWCTL_UPDATE_GOLDEN=1 swift test --filter SlurmScriptsTests` rewrites them.
@Suite struct SlurmScriptsTests {
    static let settings = SlurmScripts.Settings(
        flowctl: "/opt/flowctl/bin/flowctl", job: "/home/ana/study/jobs/preventad mri.yml",
        overrides: ["sources.loris.url=https://loris.example.org", "vars.site=it's"], shards: 8, indices: Array(0..<8),
        maxRunning: 3, partition: "transfer", time: "2:00:00", mem: "2G", jobs: 8,
        directory: "/scratch/out/preventad/.flowctl/slurm", workingDirectory: "/home/ana/study", name: "preventad mri")

    func expectGolden(_ text: String, _ name: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/\(name)").path
        if ProcessInfo.processInfo.environment["FLOWCTL_UPDATE_GOLDEN"] == "1" {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
        }
        #expect(text == (try String(contentsOfFile: path, encoding: .utf8)))
    }

    @Test func scriptsMatchGolden() throws {
        let scripts = SlurmScripts(Self.settings)
        try expectGolden(scripts.array, "slurm-array.sbatch")
        try expectGolden(scripts.gather, "slurm-gather.sbatch")
    }

    @Test func aResumeRunsOnlyTheGivenShards() {
        var settings = Self.settings
        settings.indices = [6, 1, 3, 7, 5]
        settings.maxRunning = nil
        let array = SlurmScripts(settings).array
        #expect(array.contains("#SBATCH --array=1,3,5-7\n"))
        #expect(array.contains("--shard \"$shard/8\""))
        #expect(SlurmScripts.arraySpec([0, 1, 2, 3]) == "0-3")
        #expect(SlurmScripts.arraySpec([4]) == "4")
    }

    @Test func wordsAreQuotedForTheShell() {
        #expect(SlurmScripts.quoted("/a/b.yml") == "/a/b.yml")
        #expect(SlurmScripts.quoted("a b") == "'a b'")
        #expect(SlurmScripts.quoted("it's") == "'it'\\''s'")
        #expect(SlurmScripts.quoted("$(rm -rf /)") == "'$(rm -rf /)'")
        #expect(SlurmScripts.jobName("a b/c") == "flowctl-a_b_c")
    }

    @Test func submitRefusesCredentialsOnTheCommandLine() throws {
        #expect(throws: (any Error).self) {
            try Flowctl.parseAsRoot(["submit", "x.yml", "--slurm", "--shards", "2", "--set", "sources.loris.password=hunter2"])
        }
        #expect(throws: (any Error).self) { try Flowctl.parseAsRoot(["submit", "x.yml", "--shards", "2"]) }
        #expect(throws: (any Error).self) { try Flowctl.parseAsRoot(["submit", "x.yml", "--slurm", "--shards", "0"]) }
        #expect(throws: (any Error).self) { try Flowctl.parseAsRoot(["run", "x.yml", "--shard", "0/2"]) }
        let run = try Flowctl.parseAsRoot(["run", "x.yml", "--locked", "--shard", "auto/4", "--shard-index-env", "I"]) as! Run
        #expect(run.shard == "auto/4" && run.shardIndexEnv == "I")
    }
}

/// `submit` passes its `--set`s on into the batch scripts: a credential there would be written
/// into them, so it is refused, a password in a URL's `user:password@` as much as a `password=`.
@Suite struct SubmitCredentialTests {
    @Test func aCredentialInASetIsRefusedBeforeAnyScriptIsWritten() throws {
        for set in ["sources.loris.password=s3cret", "sources.gc.token=t", "sources.x.url=https://u:s3cret@xnat.example.org"] {
            #expect(throws: (any Error).self, "\(set)") { _ = try Submit.parse(["--slurm", "--shards", "2", "--set", set, "job.yml"]) }
        }
        _ = try Submit.parse(["--slurm", "--shards", "2", "--set", "sources.x.url=https://xnat.example.org/a@b", "job.yml"])
    }
}
