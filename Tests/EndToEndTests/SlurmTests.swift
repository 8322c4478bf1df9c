import Foundation
import Testing

extension EndToEnd {
/// Issue #25 on a real Slurm cluster started by the test (one node, 2 CPUs; or two nodes in
/// network namespaces of their own): `flowctl submit
/// --slurm --shards 4` of a locked job (preventad-mri, then covid-lobes) gathers the tree of
/// one plain run, every file fetched once and nothing listed; a shard cancelled mid-run is resubmitted alone by `--resume`, which
/// fetches only what it had not finished. Without root or Slurm this fails, saying why.
@Suite struct SlurmTests {
    static let data = ["--platforms", "loris", "--loris-candidates", "6", "--loris-files-per-visit", "2..4",
                       "--file-size", "64KiB..128KiB"]

    /// The submission's job ids from `submit`'s output.
    static func jobIDs(_ output: String) throws -> (array: String, gather: String) {
        let words = output.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let a = words.firstIndex(of: "array"), let g = words.lastIndex(of: "gather"), a + 2 < words.count, g + 2 < words.count else {
            throw HarnessError("no job ids in: \(output)")
        }
        return (words[a + 2], words[g + 2])
    }

    /// A plain run of the same data into `single`: the reference tree and its file count.
    /// Also the per-item requests (LORIS's QC and visit metadata extras) of a locked run.
    static func reference(_ workspace: Workspace, job: String) throws -> (files: Int, perItemRequests: Int) {
        let sandbox = try SandboxProcess(data)
        defer { sandbox.stop() }
        let single = try flowctl(["run", job, "--set", "actions.pull.to=../single"], environment: sandbox.environment)
        guard single.status == 0 else { throw HarnessError("reference run failed: \(single.stderr)") }
        let files = try sandbox.stats("loris")["wholeFileAnswers"] as? Int ?? -1
        guard try flowctl(["lock", job], environment: sandbox.environment).status == 0 else { throw HarnessError("lock failed") }
        try sandbox.resetStats("loris")
        let locked = try flowctl(["run", "--locked", job, "--set", "actions.pull.to=../locked"], environment: sandbox.environment)
        guard locked.status == 0 else { throw HarnessError("locked reference run failed: \(locked.stderr)") }
        try FileManager.default.removeItem(atPath: job.replacingOccurrences(of: ".yml", with: ".lock.json"))
        return (files, try sandbox.stats("loris")["listingRequests"] as? Int ?? -1)
    }

    /// `jobs/covid-lobes.yml` submitted as 4 shards: the gathered tree is one run's, each image's
    /// algorithm job started once and each mask fetched once, the archive listed only by the
    /// lock, and `verify` clean.
    static func covidLobesAsFourShards(_ cluster: SlurmCluster) throws {
        let sandbox = try SandboxProcess(["--platforms", "gc"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["covid-lobes.yml"])
        defer { workspace.remove() }
        let job = workspace.job("covid-lobes.yml")
        let env = sandbox.environment.merging(cluster.environment) { $1 }
        let poll = ["--set", "actions.lobes.wait.poll=200ms"]
        let single = try flowctl(["run", job, "--set", "actions.masks.to=../single"] + poll, environment: env)
        #expect(single.status == 0, "\(single.stderr)")
        let reference = try sandbox.stats("gc")
        let masks = reference["wholeFileAnswers"] as? Int ?? -1
        func count(_ stats: [String: Any], _ route: String) -> Int { (stats["routes"] as? [String: Int])?[route] ?? 0 }
        let startJob = "POST /api/v1/algorithms/jobs/", listItems = "GET /api/v1/archives/items/"
        let images = count(reference, startJob)
        #expect(masks >= images && images >= 8, "\(reference)")

        #expect(try flowctl(["lock", job], environment: env).status == 0)
        try sandbox.resetStats("gc")
        let submit = try flowctl(["submit", job, "--slurm", "--shards", "4", "--max-running", "2"] + poll, environment: env)
        #expect(submit.status == 0, "\(submit.stderr)")
        let ids = try jobIDs(submit.stdout)
        try cluster.waitForJobs([ids.array, ids.gather])
        let out = workspace.root + "/data/covid-lobes"
        let summary = (try? String(contentsOfFile: out + "/.flowctl/gather-summary.json", encoding: .utf8)) ?? ""
        #expect(summary.contains("\"pending\" : 0"), "\(summary)\n\(cluster.logs())")
        for k in 0..<4 {
            #expect(try String(contentsOfFile: out + "/.flowctl/slurm/shard-\(k)-of-4.exit", encoding: .utf8) == "0\n")
        }
        #expect(try workspace.listing("data/covid-lobes") == workspace.listing("single"))
        #expect(try flowctl(["verify", out]).status == 0)
        let stats = try sandbox.stats("gc")
        #expect(count(stats, startJob) == images, "\(stats)")
        #expect(count(stats, listItems) == 0, "\(stats)")
        #expect(stats["wholeFileAnswers"] as? Int == masks, "\(stats)")
        #expect((stats["pathsAnsweredWholeAgain"] as? [String: Any])?.isEmpty ?? true, "\(stats)")
    }

    /// Two nodes, each `slurmd` in a network namespace of its own with its own address: the two
    /// shards run on different hosts, reach the sandbox over their links, and gather to the tree
    /// of one run, each file fetched once.
    @Test func shardsRunOnSeparateHosts() throws {
        let cluster = try SlurmCluster(cpus: 1, hosts: 2)
        defer { cluster.stop() }
        let sandbox = try SandboxProcess(["--host", cluster.hostAddress, "--platforms", "loris", "--loris-candidates", "3",
                                          "--loris-files-per-visit", "1..2", "--file-size", "16KiB..32KiB"])
        defer { sandbox.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let job = workspace.job("preventad-mri.yml")
        let env = sandbox.environment.merging(cluster.environment) { $1 }
        #expect(env["LORIS_URL"]?.contains(cluster.hostAddress) == true, "\(env["LORIS_URL"] ?? "")")
        #expect(try flowctl(["run", job, "--set", "actions.pull.to=../single"], environment: env).status == 0)
        #expect(try flowctl(["lock", job], environment: env).status == 0)
        try sandbox.resetStats("loris")
        let submit = try flowctl(["submit", job, "--slurm", "--shards", "2"], environment: env)
        #expect(submit.status == 0, "\(submit.stderr)")
        let ids = try Self.jobIDs(submit.stdout)
        try cluster.waitForJobs([ids.array, ids.gather])
        let out = workspace.root + "/out/preventad"
        let summary = (try? String(contentsOfFile: out + "/.flowctl/gather-summary.json", encoding: .utf8)) ?? ""
        #expect(summary.contains("\"pending\" : 0"), "\(summary)\n\(cluster.logs())")
        // Where each task ran (Slurm keeps finished jobs for MinJobAge).
        let shown = try cluster.command("/usr/bin/scontrol", ["-o", "show", "job", ids.array])
        let nodes = shown.stdout.split(separator: "\n").compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("NodeList=") }.map { String($0.dropFirst("NodeList=".count)) }
        }
        #expect(Set(nodes) == ["node1", "node2"], "\(shown.stdout)")
        #expect(try workspace.listing("out/preventad") == workspace.listing("single"))
        #expect(try flowctl(["verify", out]).status == 0)
        let stats = try sandbox.stats("loris")
        #expect((stats["pathsAnsweredWholeAgain"] as? [String: Any])?.isEmpty ?? true, "\(stats)")
        let files = try workspace.listing("single").split(separator: "\n").filter { $0.contains(".mnc ") }.count
        #expect(stats["wholeFileAnswers"] as? Int == files, "\(stats)")
    }

    @Test func submitShardsGatherAndResumeACancelledShard() throws {
        let cluster = try SlurmCluster()
        defer { cluster.stop() }
        let workspace = try Workspace(jobs: ["preventad-mri.yml"])
        defer { workspace.remove() }
        let job = workspace.job("preventad-mri.yml")
        let (files, perItemRequests) = try Self.reference(workspace, job: job)
        #expect(files > 20)

        // Part 1: four shards, two running at once (the node has 2 CPUs).
        let sandbox = try SandboxProcess(Self.data)
        defer { sandbox.stop() }
        let env = sandbox.environment.merging(cluster.environment) { $1 }
        #expect(try flowctl(["lock", job], environment: env).status == 0)
        try sandbox.resetStats("loris")
        let dry = try flowctl(["submit", job, "--slurm", "--shards", "4", "--max-running", "2", "--dry-run"], environment: env)
        #expect(dry.status == 0 && dry.stdout.contains("#SBATCH --array=0-3%2"), "\(dry.stdout)\(dry.stderr)")
        let submit = try flowctl(["submit", job, "--slurm", "--shards", "4", "--max-running", "2"], environment: env)
        #expect(submit.status == 0, "\(submit.stderr)")
        let ids = try Self.jobIDs(submit.stdout)
        let slurmDir = workspace.root + "/out/preventad/.flowctl/slurm"
        let script = try String(contentsOfFile: slurmDir + "/array.sbatch", encoding: .utf8)
        #expect(!script.contains(env["LORIS_PASS"]!) && !script.contains(env["LORIS_USER"]!))
        try cluster.waitForJobs([ids.array, ids.gather])
        let gatherLog = try FileManager.default.contentsOfDirectory(atPath: slurmDir).filter { $0.hasPrefix("gather.") }
            .map { try String(contentsOfFile: slurmDir + "/" + $0, encoding: .utf8) }.joined()
        #expect(gatherLog.contains("gathered: every task done"), "\(gatherLog)\n\(cluster.logs())")
        #expect(try workspace.listing("out/preventad") == workspace.listing("single"))
        #expect(try flowctl(["verify", workspace.root + "/out/preventad"]).status == 0)
        let stats = try sandbox.stats("loris")
        #expect(stats["listingRequests"] as? Int == perItemRequests)
        #expect(stats["wholeFileAnswers"] as? Int == files)
        #expect((stats["pathsAnsweredWholeAgain"] as? [String: Any])?.isEmpty ?? true, "\(stats)")
        let nothingLeft = try flowctl(["submit", job, "--slurm", "--resume"], environment: env)
        #expect(nothingLeft.status == 0 && nothingLeft.stderr.contains("nothing to submit again"), "\(nothingLeft.stderr)")

        // Part 2: covid-lobes, whose per-image chains (run the algorithm, wait, download the masks)
        // each stay in one shard, on the same cluster.
        try Self.covidLobesAsFourShards(cluster)

        // Part 3: a slow server (each connection capped), two shards at 2 transfers each; shard 1
        // cancelled once it has files done, then `--resume` runs shard 1 alone.
        let slow = try SandboxProcess(Self.data + ["--slow-body-bps", "262144"])
        defer { slow.stop() }
        let slowEnv = slow.environment.merging(cluster.environment) { $1 }
        let second = try Workspace(jobs: ["preventad-mri.yml"])
        defer { second.remove() }
        let job2 = second.job("preventad-mri.yml")
        #expect(try flowctl(["lock", job2], environment: slowEnv).status == 0)
        try slow.resetStats("loris")
        let first = try flowctl(["submit", job2, "--slurm", "--shards", "2", "-j", "2"], environment: slowEnv)
        #expect(first.status == 0, "\(first.stderr)")
        let firstIDs = try Self.jobIDs(first.stdout)
        let out = second.root + "/out/preventad"
        let deadline = Date().addingTimeInterval(40)
        while Date() < deadline {
            let done = try run("/usr/bin/find", [out, "-name", "*.mnc"]).stdout.split(separator: "\n").count
            if done >= 6 { break }
            usleep(200_000)
        }
        let cancel = try cluster.command("/usr/bin/scancel", ["\(firstIDs.array)_1"])
        #expect(cancel.status == 0, "\(cancel.stderr)")
        try cluster.waitForJobs([firstIDs.array, firstIDs.gather])
        let dir2 = out + "/.flowctl/slurm"
        #expect(try String(contentsOfFile: dir2 + "/shard-0-of-2.exit", encoding: .utf8) == "0\n")
        #expect((try? String(contentsOfFile: dir2 + "/shard-1-of-2.exit", encoding: .utf8)) != "0\n")
        let summary = try String(contentsOfFile: out + "/.flowctl/gather-summary.json", encoding: .utf8)
        #expect(!summary.contains("\"pending\" : 0"), "\(summary)")
        let before = try slow.stats("loris")["wholeFileAnswers"] as? Int ?? 0
        #expect(before < files, "the cancel came after shard 1 had finished")
        // Files of the job not in the tree after the cancel: what the resume may fetch, no more.
        let unfinished = try workspace.listing("single").split(separator: "\n").count
            - second.listing("out/preventad").split(separator: "\n").count
        #expect(unfinished > 0)

        let resume = try flowctl(["submit", job2, "--slurm", "--resume"], environment: slowEnv)
        #expect(resume.status == 0 && resume.stdout.contains("(shards 1 of 2)"), "\(resume.stdout)\(resume.stderr)")
        let resumedIDs = try Self.jobIDs(resume.stdout)
        try cluster.waitForJobs([resumedIDs.array, resumedIDs.gather], timeout: 60)
        let gathered = try String(contentsOfFile: out + "/.flowctl/gather-summary.json", encoding: .utf8)
        #expect(gathered.contains("\"pending\" : 0"), "\(gathered)")
        let after = try slow.stats("loris")
        // The resume fetched only what shard 1 had not finished. A file cut by the cancel resumes
        // with Range (not a whole answer); one whose last bytes the server had sent but the
        // stopped shard had not yet written is fetched again: at most the 2 in flight (-j 2).
        let resumed = (after["wholeFileAnswers"] as? Int ?? 0) - before
        #expect(resumed > 0 && resumed <= unfinished, "resume fetched \(resumed) files whole; \(unfinished) were unfinished")
        let again = after["pathsAnsweredWholeAgain"] as? [String: Int] ?? [:]
        #expect(again.count <= 2 && again.values.allSatisfy { $0 == 2 }, "\(again)")
        #expect((after["wholeFileAnswers"] as? Int ?? 0) <= files + again.count)
        // Per-item requests (QC, visit metadata) in flight at the cancel may be asked again (-j 2).
        #expect(after["listingRequests"] as? Int ?? 0 <= perItemRequests + 2)
        #expect(try second.listing("out/preventad") == workspace.listing("single"))
        #expect(try flowctl(["verify", out]).status == 0)
    }
}
}
