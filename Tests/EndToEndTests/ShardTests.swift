import Foundation
import Testing

extension EndToEnd {
/// Issue #25 without a scheduler: `run --locked --shard K/N` for every K, then `gather`, make
/// the tree of one plain run, each file fetched once and nothing listed; bad shard specs and a
/// job changed since the lock are refused.
@Suite struct ShardTests {
    @Test func shardsOfALockedJobMakeTheTreeOfOneRun() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris,xnat", "--loris-candidates", "6", "--loris-files-per-visit", "2..4",
                                          "--xnat-subjects", "5"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml", "xnat-session.yml"])
        defer { workspace.remove() }
        let env = sandbox.environment
        for (name, platform, out) in [("preventad-mri.yml", "loris", "out/preventad"), ("xnat-session.yml", "xnat", "out/xnat-session")] {
            let job = workspace.job(name)
            // The reference: one plain run into another folder.
            try sandbox.resetStats(platform)
            let single = try flowctl(["run", job, "--set", "actions.pull.to=../single-\(platform)"], environment: env)
            #expect(single.status == 0, "\(single.stderr)")
            let files = try sandbox.stats(platform)["wholeFileAnswers"] as? Int ?? -1

            let unlocked = try flowctl(["run", job, "--shard", "0/4"], environment: env)
            #expect(unlocked.status != 0 && unlocked.stderr.contains("--shard needs --locked"), "\(unlocked.stderr)")
            #expect(try flowctl(["lock", job], environment: env).status == 0)
            let outOfRange = try flowctl(["run", "--locked", job, "--shard", "4/4"], environment: env)
            #expect(outOfRange.status == 1 && outOfRange.stderr.contains("out of range"), "\(outOfRange.stderr)")
            let noIndex = try flowctl(["run", "--locked", job, "--shard", "auto/4", "--shard-index-env", "NO_SUCH_INDEX"], environment: env)
            #expect(noIndex.status == 1 && noIndex.stderr.contains("NO_SUCH_INDEX"), "\(noIndex.stderr)")

            // What a plain locked run asks besides files: no listing, but per-item requests
            // (LORIS's QC and visit metadata extras), which the shards must share out, not repeat.
            try sandbox.resetStats(platform)
            let lockedRun = try flowctl(["run", "--locked", job, "--set", "actions.pull.to=../locked-\(platform)"], environment: env)
            #expect(lockedRun.status == 0, "\(lockedRun.stderr)")
            let perItemRequests = try sandbox.stats(platform)["listingRequests"] as? Int ?? -1
            #expect(platform == "loris" || perItemRequests == 0)

            try sandbox.resetStats(platform)
            for k in 0..<4 {
                // Kubernetes' variable for one, Slurm's for another, the plain K/N for the rest.
                let (spec, extra): (String, [String: String]) = k == 1 ? ("auto/4", ["JOB_COMPLETION_INDEX": "1"])
                    : k == 2 ? ("auto/4", ["SLURM_ARRAY_TASK_ID": "2"]) : ("\(k)/4", [:])
                let shard = try flowctl(["run", "--locked", job, "--shard", spec], environment: env.merging(extra) { $1 })
                #expect(shard.status == 0, "\(shard.stderr)")
                #expect(shard.stderr.contains("shard \(k)/4: "), "\(shard.stderr)")
            }
            let stats = try sandbox.stats(platform)
            #expect(stats["listingRequests"] as? Int == perItemRequests)
            #expect(stats["wholeFileAnswers"] as? Int == files)
            #expect((stats["pathsAnsweredWholeAgain"] as? [String: Any])?.isEmpty ?? true, "\(stats)")
            let journals = try FileManager.default.contentsOfDirectory(atPath: workspace.root + "/" + out + "/.flowctl")
            #expect(journals.filter { $0.hasPrefix("journal-shard-") && $0.hasSuffix("-of-4.sqlite") }.count == 4)

            if platform == "loris" {  // before the gather: no manifest yet, and verify says who writes it
                let early = try flowctl(["verify", workspace.root + "/" + out])
                #expect(early.status == 1 && early.stderr.contains("flowctl gather JOB"), "\(early.stderr)")
            }
            let gather = try flowctl(["gather", job, "--shards", "4"], environment: env)
            #expect(gather.status == 0, "\(gather.stdout)\(gather.stderr)")
            #expect(gather.stdout.contains("gathered: every task done"), "\(gather.stdout)")
            #expect(try workspace.listing(out) == workspace.listing("single-\(platform)"))
            #expect(try flowctl(["verify", workspace.root + "/" + out]).status == 0)
            let status = try flowctl(["status", job], environment: env)
            #expect(status.stdout.contains("4 shard journal(s)"), "\(status.stdout)")

            // A shard run again does nothing; a plain run after the shards does nothing either.
            try sandbox.resetStats(platform)
            #expect(try flowctl(["run", "--locked", job, "--shard", "3/4"], environment: env).status == 0)
            #expect(try flowctl(["run", "--locked", job], environment: env).status == 0)
            #expect(try sandbox.stats(platform)["downloadRequests"] as? Int == 0)

            // A job changed since the lock: shards would cut different items; refused.
            try (String(contentsOfFile: job, encoding: .utf8) + "\n# changed\n").write(toFile: job, atomically: true, encoding: .utf8)
            let changed = try flowctl(["run", "--locked", job, "--shard", "0/4"], environment: env)
            #expect(changed.status == 1 && changed.stderr.contains("changed since"), "\(changed.stderr)")
        }
    }

    /// Per-item chains stay in one shard: each CT image's algorithm run, its wait and the
    /// download of its masks; three shards make the tree of one run, each mask fetched once.
    @Test func gcChainsShardWholeAndGatherToOneRunsTree() throws {
        let sandbox = try SandboxProcess(["--platforms", "gc"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["covid-lobes.yml"])
        defer { workspace.remove() }
        let job = workspace.job("covid-lobes.yml")
        let env = sandbox.environment
        let single = try flowctl(["run", job, "--set", "actions.masks.to=../single"], environment: env)
        #expect(single.status == 0, "\(single.stderr)")
        let files = try sandbox.stats("gc")["wholeFileAnswers"] as? Int ?? -1
        #expect(try flowctl(["lock", job], environment: env).status == 0)
        try sandbox.resetStats("gc")
        for k in 0..<3 {
            let shard = try flowctl(["run", "--locked", job, "--shard", "\(k)/3"], environment: env)
            #expect(shard.status == 0, "\(shard.stderr)")
        }
        let stats = try sandbox.stats("gc")
        #expect(stats["wholeFileAnswers"] as? Int == files, "\(stats)")
        #expect((stats["pathsAnsweredWholeAgain"] as? [String: Any])?.isEmpty ?? true, "\(stats)")
        let gather = try flowctl(["gather", job, "--shards", "3"], environment: env)
        #expect(gather.status == 0, "\(gather.stdout)\(gather.stderr)")
        #expect(try workspace.listing("data/covid-lobes") == workspace.listing("single"))
    }

    /// `submit` without Slurm: sbatch missing, sbatch refusing, the job's `slurm:` block, and
    /// `--resume` choosing the shards whose exit file is not 0 (a stand-in sbatch records calls).
    @Test func submitErrorsSettingsAndResumeChoice() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris", "--loris-candidates", "3", "--loris-files-per-visit", "1..2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let job = workspace.job("preventad-mri.yml")
        var env = sandbox.environment
        let noLock = try flowctl(["submit", job, "--slurm", "--shards", "2"], environment: env)
        #expect(noLock.status == 1 && noLock.stderr.contains("flowctl lock"), "\(noLock.stderr)")
        #expect(try flowctl(["lock", job], environment: env).status == 0)

        env["PATH"] = workspace.root + "/nothing-here"
        let missing = try flowctl(["submit", job, "--slurm", "--shards", "2"], environment: env)
        #expect(missing.status == 1 && missing.stderr.contains("sbatch is not on PATH"), "\(missing.stderr)")

        // The job's `slurm:` block gives what the command line does not.
        let dry = try flowctl(["submit", job, "--slurm", "--dry-run", "--set", "slurm.shards=3", "--set", "slurm.max-running=2",
                               "--set", "slurm.partition=transfer"], environment: env)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("#SBATCH --array=0-2%2") && dry.stdout.contains("#SBATCH --partition=transfer"), "\(dry.stdout)")
        #expect(!dry.stdout.contains(env["LORIS_PASS"]!))

        let bin = workspace.root + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        func tool(_ name: String, _ body: String) throws {
            try ("#!/bin/sh\n" + body + "\n").write(toFile: bin + "/" + name, atomically: true, encoding: .utf8)
            chmod(bin + "/" + name, 0o755)
        }
        try tool("sbatch", "echo 'sbatch: error: invalid partition specified: nope' >&2; exit 1")
        env["PATH"] = bin + ":/usr/bin:/bin"
        let refused = try flowctl(["submit", job, "--slurm", "--shards", "2"], environment: env)
        #expect(refused.status == 1 && refused.stderr.contains("sbatch refused the array job")
                && refused.stderr.contains("invalid partition"), "\(refused.stderr)")

        try tool("sbatch", "echo \"$@\" >> \(workspace.root)/sbatch.log; n=$(wc -l < \(workspace.root)/sbatch.log); echo $((100 + n))")
        try tool("squeue", "exit 0")
        let submitted = try flowctl(["submit", job, "--slurm", "--shards", "2"], environment: env)
        #expect(submitted.status == 0 && submitted.stdout.contains("submitted array job 101 (shards 0-1 of 2) and gather job 102"),
                "\(submitted.stdout)\(submitted.stderr)")
        let calls = try String(contentsOfFile: workspace.root + "/sbatch.log", encoding: .utf8)
        #expect(calls.contains("--parsable --export=ALL") && calls.contains("--dependency=afterany:101"), "\(calls)")
        let slurmDir = workspace.root + "/out/preventad/.flowctl/slurm"
        let record = try String(contentsOfFile: slurmDir + "/submission.json", encoding: .utf8)
        #expect(record.contains("\"arrayJobID\" : \"101\""), "\(record)")
        // Shard 0 finished, shard 1 was cancelled: the resume submits shard 1 alone.
        try "0\n".write(toFile: slurmDir + "/shard-0-of-2.exit", atomically: true, encoding: .utf8)
        try "143\n".write(toFile: slurmDir + "/shard-1-of-2.exit", atomically: true, encoding: .utf8)
        let otherCount = try flowctl(["submit", job, "--slurm", "--resume", "--shards", "3"], environment: env)
        #expect(otherCount.status == 1 && otherCount.stderr.contains("differs from the 2 shards"), "\(otherCount.stderr)")
        let resumed = try flowctl(["submit", job, "--slurm", "--resume"], environment: env)
        #expect(resumed.status == 0 && resumed.stdout.contains("(shards 1 of 2)"), "\(resumed.stdout)\(resumed.stderr)")
        #expect(try String(contentsOfFile: slurmDir + "/array.sbatch", encoding: .utf8).contains("#SBATCH --array=1\n"))
        // Still queued: a resume would run a shard twice at once.
        try tool("squeue", "echo 103_1")
        let queued = try flowctl(["submit", job, "--slurm", "--resume"], environment: env)
        #expect(queued.status == 1 && queued.stderr.contains("still has tasks queued or running"), "\(queued.stderr)")
    }

    @Test func moreShardsThanGroupsWarnsAndEmptyShardsDoNothing() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris", "--loris-candidates", "2", "--loris-files-per-visit", "1..2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let job = workspace.job("preventad-mri.yml")
        let env = sandbox.environment
        #expect(try flowctl(["lock", job], environment: env).status == 0)
        // Each candidate is over a shard's share, so both are cut into their visits (4-5 each):
        // 12 shards are still more than the 8-10 pieces.
        var empty = 0, pieces = 0
        for k in 0..<12 {
            let shard = try flowctl(["run", "--locked", job, "--shard", "\(k)/12"], environment: env)
            #expect(shard.status == 0, "\(shard.stderr)")
            #expect(shard.stderr.contains("shard(s) get nothing") && shard.stderr.contains("(2 cut one level down"), "\(shard.stderr)")
            if let warning = shard.stderr.split(separator: "\n").first(where: { $0.hasPrefix("warning: ") }),
               let n = Int(warning.split(separator: " ")[1]) { pieces = n }
            if shard.stderr.contains("shard \(k)/12: 0 of ") { empty += 1 }
        }
        #expect((8...10).contains(pieces) && empty == 12 - pieces, "\(pieces) pieces, \(empty) empty shards")
        #expect(try flowctl(["gather", job], environment: env).status == 0)
    }
}
}
