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

    @Test func moreShardsThanGroupsWarnsAndEmptyShardsDoNothing() throws {
        let sandbox = try SandboxProcess(["--platforms", "loris", "--loris-candidates", "2", "--loris-files-per-visit", "1..2"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let job = workspace.job("preventad-mri.yml")
        let env = sandbox.environment
        #expect(try flowctl(["lock", job], environment: env).status == 0)
        var empty = 0
        for k in 0..<5 {
            let shard = try flowctl(["run", "--locked", job, "--shard", "\(k)/5"], environment: env)
            #expect(shard.status == 0, "\(shard.stderr)")
            #expect(shard.stderr.contains("shard(s) get nothing"), "\(shard.stderr)")
            if shard.stderr.contains("shard \(k)/5: 0 of ") { empty += 1 }
        }
        #expect(empty == 3)
        #expect(try flowctl(["gather", job], environment: env).status == 0)
    }
}
}
