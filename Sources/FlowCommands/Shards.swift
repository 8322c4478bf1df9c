import ArgumentParser
import Foundation
import FlowExecutor
import FlowModel
import FlowPlanner

struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a locked job to Slurm as an array of shards plus a gather job.",
        discussion: """
            Task K of the array runs `flowctl run --locked --shard K/N`; the gather job runs after \
            the array (afterany), merges the shards' journals into the manifest, verifies the tree \
            and writes a summary. Write the lock first (`flowctl lock JOB`): the shards then list \
            nothing. Credentials pass through the environment (sbatch --export=ALL), never through \
            the scripts, which are written to <output>/.flowctl/slurm/. `--resume` submits again \
            only the shards that did not finish.

              flowctl lock jobs/preventad-mri.yml
              flowctl submit jobs/preventad-mri.yml --slurm --shards 8 --max-running 4 \\
                  --partition transfer --time 4:00:00 --mem 2G
              flowctl submit jobs/preventad-mri.yml --slurm --shards 8 --dry-run
              flowctl submit jobs/preventad-mri.yml --slurm --resume
            """)

    @OptionGroup var options: JobOptions

    @Flag(help: "Submit to Slurm with sbatch (the only engine `submit` drives; see docs/cluster.md for others).")
    var slurm = false

    @Option(help: "Shards (array tasks): parts of the job, whole subjects (candidates, images, exams) each, unless one alone would bound the run.")
    var shards: Int?

    @Option(help: ArgumentHelp("Array tasks running at once (the %K of --array): the server sees at most K x the source's concurrency.",
                               valueName: "K"))
    var maxRunning: Int?

    @Option(help: "Slurm partition.")
    var partition: String?

    @Option(help: ArgumentHelp("Time limit of each task (Slurm's format, e.g. 2:00:00).", valueName: "time"))
    var time: String?

    @Option(help: ArgumentHelp("Memory of each task (Slurm's format, e.g. 2G).", valueName: "size"))
    var mem: String?

    @Option(name: [.customShort("j"), .long], help: "Transfers in flight at once in each task.")
    var jobs: Int?

    @Flag(help: "Print both scripts; submit nothing.")
    var dryRun = false

    @Flag(help: "Submit again only the shards of the last submission that did not finish.")
    var resume = false

    func validate() throws {
        guard slurm else { throw ValidationError("say which engine: --slurm (Kubernetes and HTCondor: see docs/cluster.md)") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1 (got \(shards))") }
        if let maxRunning, maxRunning < 1 { throw ValidationError("--max-running must be at least 1 (got \(maxRunning))") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        for o in options.overrides {
            let key = o.split(separator: "=", maxSplits: 1).first.map(String.init) ?? o
            let value = o.split(separator: "=", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            if let last = key.split(separator: ".").last, SlurmSubmission.secretKeys.contains(where: { last.hasPrefix($0) })
                || URLCredentials.range(in: value) != nil {
                throw ValidationError("--set \(key)=...: a credential would be written into the batch script; "
                    + "pass it through the environment (`${env.NAME}` in the job), which sbatch exports to the tasks")
            }
        }
    }

    func run() async throws {
        let session = try JobSession.open(options, credentials: false)
        let directory = SlurmSubmission.directory(forRoot: session.stateRoot)
        do {
            // The lock is the shards' listing: it must exist and be of this very job file.
            let items = try session.lockedItems(strictJob: true)
            let defaults = session.job.slurm ?? SlurmSettings()
            var shards = self.shards ?? defaults.shards
            var indices: [Int]
            if resume {
                guard let last = SlurmSubmission.read(directory) else {
                    throw ExecutionError("nothing was submitted for \(options.job) yet (no \(directory)/\(SlurmSubmission.fileName)); submit without --resume")
                }
                if let shards, shards != last.shards {
                    throw ExecutionError("--shards \(shards) differs from the \(last.shards) shards of the last submission: "
                        + "a resume keeps the partition (submit anew without --resume to change it)")
                }
                shards = last.shards
                if !dryRun { try refuseWhileQueued(last) }
                indices = SlurmSubmission.unfinished(shards: last.shards, directory: directory)
                guard !indices.isEmpty else {
                    Console.error("all \(last.shards) shards of the last submission finished; nothing to submit again "
                        + "(`flowctl gather --shards \(last.shards) \(options.job)` gathers again)")
                    return
                }
                Console.error("resubmitting shard(s) \(SlurmScripts.arraySpec(indices)) of \(last.shards)")
            } else {
                guard let shards else { throw ExecutionError("how many shards? --shards N (or `slurm: {shards: N}` in the job)") }
                indices = Array(0..<shards)
            }
            let n = shards ?? 1
            let types = Dictionary(session.job.sources.map { ($0.name, $0.type) }, uniquingKeysWith: { a, _ in a })
            let part = ShardPartition.part(items, shard: try ShardSpec(index: 0, count: n), types: types, field: defaults.shardBy)
            if let warning = part.emptyShardsWarning(count: n) { Console.error(warning) }
            let scripts = SlurmScripts(.init(
                flowctl: Self.executablePath(), job: URL(fileURLWithPath: options.job).standardizedFileURL.path,
                overrides: options.overrides, shards: n, indices: indices, maxRunning: maxRunning ?? defaults.maxRunning,
                partition: partition ?? defaults.partition, time: time ?? defaults.time, mem: mem ?? defaults.mem,
                jobs: jobs ?? defaults.jobs, directory: directory,
                workingDirectory: FileManager.default.currentDirectoryPath, name: session.job.name))
            if dryRun {
                Console.out("# \(directory)/array.sbatch\n" + scripts.array + "\n# \(directory)/gather.sbatch\n" + scripts.gather)
                return
            }
            guard let sbatch = Converter.path(of: "sbatch") else {
                throw ExecutionError("sbatch is not on PATH: `flowctl submit --slurm` needs Slurm's client commands "
                    + "(Debian: `apt-get install slurm-client`); --dry-run prints the scripts")
            }
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try scripts.array.write(toFile: directory + "/array.sbatch", atomically: true, encoding: .utf8)
            try scripts.gather.write(toFile: directory + "/gather.sbatch", atomically: true, encoding: .utf8)
            for i in indices { unlink(directory + "/shard-\(i)-of-\(n).exit") }
            let array = try Self.sbatch(sbatch, ["--parsable", "--export=ALL", directory + "/array.sbatch"], what: "the array job")
            let gather = try Self.sbatch(sbatch, ["--parsable", "--export=ALL", "--dependency=afterany:\(array)",
                                                  directory + "/gather.sbatch"], what: "the gather job")
            let record = SlurmSubmission(job: options.job, shards: n, indices: indices, arrayJobID: array, gatherJobID: gather,
                                         submittedAt: Timestamp.iso8601(Date().timeIntervalSince1970))
            try record.write(directory)
            Console.out("submitted array job \(array) (shards \(SlurmScripts.arraySpec(indices)) of \(n)) and gather job \(gather)")
            Console.error("scripts and logs: \(directory); follow with `squeue -j \(array),\(gather)`")
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
    }

    /// A resume while tasks of the last submission still run would run a shard twice at once.
    func refuseWhileQueued(_ last: SlurmSubmission) throws {
        guard let squeue = Converter.path(of: "squeue") else { return }
        let queued = try Self.capture(squeue, ["-h", "-o", "%i", "-j", "\(last.arrayJobID)"])
        if queued.status == 0 && !queued.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw ExecutionError("array job \(last.arrayJobID) still has tasks queued or running; wait for it or `scancel \(last.arrayJobID)`, then resume")
        }
    }

    /// Runs sbatch; its job id (`--parsable` prints `id` or `id;cluster`).
    static func sbatch(_ sbatch: String, _ arguments: [String], what: String) throws -> String {
        let result = try capture(sbatch, arguments)
        let id = result.out.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        guard result.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw ExecutionError("sbatch refused \(what) (exit \(result.status)): "
                + ErrorText.clean(result.err.trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return id
    }

    static func capture(_ executable: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    /// This flowctl, for the tasks to run (the one the user ran, not one found on PATH).
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }
}

/// The record of the last `flowctl submit --slurm` of a job, in its state folder: what a
/// resume needs (the shard count, the array's id).
struct SlurmSubmission: Codable, Equatable {
    static let fileName = "submission.json"
    /// Keys of `--set` that hold credentials, never written into a script.
    static let secretKeys = ["password", "token", "secret", "api-key", "apikey"]

    var job: String
    var shards: Int
    var indices: [Int]
    var arrayJobID: String
    var gatherJobID: String
    var submittedAt: String

    /// Where the scripts, logs, exit files and the record live: `<output>/.flowctl/slurm`.
    static func directory(forRoot root: String) -> String {
        (Journal.path(forRoot: root) as NSString).deletingLastPathComponent + "/slurm"
    }

    static func read(_ directory: String) -> SlurmSubmission? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + fileName) else { return nil }
        return try? JSONDecoder().decode(SlurmSubmission.self, from: data)
    }

    func write(_ directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(self).write(to: URL(fileURLWithPath: directory + "/" + Self.fileName), options: .atomic)
    }

    /// How task K ended, from the exit file its script writes: nil when it never finished
    /// (not run yet, or killed).
    static func exitStatus(shard: Int, of shards: Int, directory: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: directory + "/shard-\(shard)-of-\(shards).exit") else { return nil }
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The shards that did not finish with exit status 0.
    static func unfinished(shards: Int, directory: String) -> [Int] {
        (0..<shards).filter { exitStatus(shard: $0, of: shards, directory: directory) != 0 }
    }
}

struct Gather: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge the shards of a job into one result: the manifest, a verification and a summary.",
        discussion: """
            Reads every journal of the output root (one per shard) as one, writes \
            flowctl-manifest.json and the BIDS dataset files of the whole job, verifies the tree \
            against the manifest, and writes <output>/.flowctl/gather-summary.json. Exit status \
            0 when every task of the locked job is done and the tree verifies clean.

              flowctl gather jobs/preventad-mri.yml --shards 8
            """)

    @OptionGroup var options: JobOptions

    @Option(help: "The shard count, to name shards that left no journal (default: the journals found).")
    var shards: Int?

    @Option(help: "Output format: text or json.")
    var format: ReportFormat = .text

    func run() async throws {
        let session = try JobSession.openForJournal(options)
        let root = session.stateRoot
        let summary: GatherSummary
        do {
            let records = try JournalSet.records(forRoot: root) ?? [:]
            let plan = try Planner(baseDirectory: session.baseDirectory, completed: JournalState(records: records))
                .plan(session.job, resolution: Resolver.Resolution(items: try session.lockedItems(strictJob: true)))
            var written = records.compactMapValues(WrittenFile.init)
            let datasets = BIDSFiles.datasets(of: plan, jobPath: session.jobPath, flowctlVersion: Flowctl.version)
            for (bidsRoot, dataset) in datasets.sorted(by: { $0.key < $1.key }) where FileManager.default.fileExists(atPath: bidsRoot) {
                for file in try BIDSFiles.write(dataset, to: bidsRoot) { written["bids:" + file.destination] = file }
            }
            let roots = Set(plan.roots.values)
            Run.writeManifests(roots: roots, session: session, files: written)
            var verified: [GatherSummary.Verified] = []
            for r in roots.sorted() where FileManager.default.fileExists(atPath: r) {
                let report = try await Verifier.verify(root: r, manifest: try Manifest.read(from: r))
                verified.append(.init(root: r, verified: report.verified, missing: report.missing, changed: report.changed, extra: report.extra))
            }
            summary = GatherSummary.make(root: root, shards: shards, pending: plan.pending.map(\.id), verified: verified)
            try summary.write(root)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        Console.out(format == .json ? summary.json() : summary.text())
        if !summary.isComplete { throw ExitCode(1) }
    }
}

/// What `gather` found: each shard's tasks and failures, what is still pending, the verification.
struct GatherSummary: Codable {
    struct Shard: Codable {
        var shard: String
        var journal: Bool
        var done: Int
        var failed: Int
        /// The task script's exit status, when a `submit` script recorded one.
        var exitStatus: Int?
        var failures: [String]

        enum CodingKeys: String, CodingKey { case shard, journal, done, failed, failures, exitStatus = "exit_status" }
    }
    struct Verified: Codable {
        var root: String
        var verified: Int
        var missing: [String]
        var changed: [String]
        var extra: [String]
        var isClean: Bool { missing.isEmpty && changed.isEmpty && extra.isEmpty }
    }

    var shards: [Shard]
    var pending: Int
    var pendingTasks: [String]
    var verified: [Verified]
    var isComplete: Bool { pending == 0 && verified.allSatisfy(\.isClean) }

    enum CodingKeys: String, CodingKey { case shards, pending, verified, pendingTasks = "pending_tasks" }

    static let fileName = "gather-summary.json"

    static func make(root: String, shards count: Int?, pending: [String], verified: [Verified]) -> GatherSummary {
        let paths = JournalSet.paths(forRoot: root)
        var specs = paths.compactMap(JournalSet.shard(ofPath:))
        if let count { specs = (0..<count).compactMap { try? ShardSpec(index: $0, count: count) } }
        let directory = SlurmSubmission.directory(forRoot: root)
        let shards = specs.map { spec -> Shard in
            let path = JournalSet.path(forRoot: root, shard: spec)
            let records: [String: TaskRecord]? = try? Journal.existingRecords(at: path)
            let tasks = records?.values.filter { $0.kind != "output-file" } ?? []
            let failed = tasks.filter { $0.state == .failed }.sorted { $0.id < $1.id }
            return Shard(shard: spec.description, journal: records != nil, done: tasks.filter { $0.state == .done }.count,
                         failed: failed.count,
                         exitStatus: SlurmSubmission.exitStatus(shard: spec.index, of: spec.count, directory: directory),
                         failures: failed.prefix(20).map { "\($0.id): \($0.error ?? "")" })
        }
        return GatherSummary(shards: shards, pending: pending.count, pendingTasks: Array(pending.sorted().prefix(50)), verified: verified)
    }

    func write(_ root: String) throws {
        let path = (Journal.path(forRoot: root) as NSString).deletingLastPathComponent + "/" + Self.fileName
        try Data(json().utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    func text() -> String {
        var lines: [String] = []
        for s in shards {
            var line = "shard \(s.shard): "
            if !s.journal { line += "no journal (never ran)" } else { line += "\(s.done) done, \(s.failed) failed" }
            if let status = s.exitStatus, status != 0 { line += ", exit status \(status)" }
            lines.append(line)
            for f in s.failures { lines.append("  failed \(f)") }
        }
        for v in verified {
            lines.append("\(v.root): \(v.verified) verified, \(v.missing.count) missing, \(v.changed.count) changed, \(v.extra.count) extra")
            for p in v.missing.prefix(20) { lines.append("  missing  \(p)") }
            for p in v.changed.prefix(20) { lines.append("  changed  \(p)") }
            for p in v.extra.prefix(20) { lines.append("  extra    \(p)") }
        }
        lines.append(isComplete ? "gathered: every task done, the tree verifies clean"
                     : "incomplete: \(pending) task(s) not done" + (verified.allSatisfy(\.isClean) ? "" : ", the tree does not verify")
                        + "; `flowctl submit --slurm --resume` runs the unfinished shards again")
        return lines.joined(separator: "\n")
    }
}
