import FlowFiles
import ArgumentParser
import Foundation
import FlowExecutor
import FlowModel
import FlowPlanner
import FlowReport

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a job: list, then download, upload, tag and run, with retries and resume.",
        discussion: """
            Work already done (recorded in <output>/.flowctl/journal.sqlite, or files of the \
            expected size) is skipped. Ctrl-C stops cleanly (partial files are kept and resumed \
            next time; exit 130); a second Ctrl-C exits at once. Exit status: 0 all done, \
            1 failures (listed at the end), 130 interrupted.

              flowctl run jobs/xnat-dwi.yml
              flowctl run jobs/xnat-dwi.yml --keep-going --report  past failures; HTML
              flowctl run jobs/xnat-dwi.yml --set select.dwi.subjects=SUBJ_003
              flowctl run jobs/xnat-dwi.yml --quiet --events json > events.ndjson
              flowctl run --locked jobs/xnat-dwi.yml               what the lock pins
            """)

    @OptionGroup var options: JobOptions

    @Option(name: [.customShort("j"), .long], help: "Transfers in flight at once, across sources.")
    var jobs: Int = 16

    @Flag(help: "Go on with independent work after a failure.")
    var keepGoing = false

    @Flag(name: [.customShort("q"), .long], help: "Print only the final summary and failures.")
    var quiet = false

    @Option(help: ArgumentHelp("Write machine-readable events to stdout: json (NDJSON).", valueName: "format"))
    var events: EventFormat?

    enum EventFormat: String, ExpressibleByArgument { case json }

    @Flag(help: "Fetch exactly the items of <job>.lock.json (no listing), verifying every checksum.")
    var locked = false

    @Option(help: ArgumentHelp(
        "Run only part K (from 0) of N disjoint parts, whole groups each; auto/N reads K from the environment. Needs --locked.",
        valueName: "K/N"))
    var shard: String?

    @Option(help: ArgumentHelp("The variable that holds K for --shard auto/N (default: SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX, FLOWCTL_SHARD_INDEX).",
                               valueName: "name"))
    var shardIndexEnv: String?

    @Option(help: ArgumentHelp("Group items into shards by this field (default: the item's subject, candidate, image or exam).",
                               valueName: "field"))
    var shardBy: String?

    // A flag and an option, not one option with an optional value: `--report jobs/x.yml` would
    // take the job file for the page's path.
    @Flag(help: "At the end, write an HTML report of the run (see `flowctl report`).")
    var report = false

    @Option(name: .customLong("report-to"), help: ArgumentHelp(
        "Write the report there (implies --report; default: <output>/.flowctl/report.html).", valueName: "path"))
    var reportPath: String?

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1 (got \(jobs))") }
        if shard != nil && !locked {
            throw ValidationError("--shard needs --locked: write the lock once with `flowctl lock JOB`, so that the "
                + "shards do not each list the whole source")
        }
    }

    func run() async throws {
        let shardSpec: ShardSpec?
        do { shardSpec = try shard.map { try ShardSpec(parsing: $0, environment: ProcessInfo.processInfo.environment, indexVariable: shardIndexEnv) } } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        let session = try JobSession.open(options)
        try session.requireConverters()
        // One run at a time per journal: two would write the same `.part` files and each rename
        // or delete the other's (a shard has a journal, and so a lock, of its own).
        let journalPath = JournalSet.path(forRoot: session.stateRoot, shard: shardSpec)
        let runLock = try Self.lockJournal(journalPath, root: session.stateRoot,
                                           elsewhere: session.job.actions.contains { $0.kind == .download }
                                               ? "the download's `to:`, or --set actions.<name>.to=DIR" : "XDG_STATE_HOME")
        // From the first moment: SIGTERM (Slurm's and Kubernetes' notice) is Ctrl-C, also while listing.
        let stopper = RunStopper()
        let signals = SignalTrap { stopper.stop() }
        // Past a file-size limit (`ulimit -f`), a write then fails with EFBIG and is reported like
        // a full disk, instead of SIGXFSZ killing the run in the middle of a file.
        signal(SIGXFSZ, SIG_IGN)
        let journal: Journal
        let journaled: [String: TaskRecord]
        let plan: FlowPlanner.Plan
        do {
            // A new journal costs a few fsyncs: it is created while the sources are listed.
            let opening = Task { try await offThePool { try Journal(path: journalPath) } }
            let listing = Task { [locked] in try await session.items(locked: locked, strictJob: shardSpec != nil) }
            stopper.whenStopped { listing.cancel() }
            var listed: Resolver.Resolution
            do { listed = try await listing.value } catch {
                _ = try? await opening.value  // a journal is whole or absent, never half-made
                throw error
            }
            if stopper.isStopped { throw CancellationError() }
            session.warnOfEmptySelections(listed)
            if let shardSpec { listed = session.shardPart(listed, shard: shardSpec, field: shardBy ?? session.job.slurm?.shardBy) }
            journal = try await opening.value
            // What other journals of the root hold counts as done: a plain run after shards does
            // only what no shard did. A shard reads the plain run's journal, not its siblings',
            // which other hosts may be writing.
            let others = shardSpec == nil ? try JournalSet.records(forRoot: session.stateRoot, excluding: journalPath)
                : try Journal.existingRecords(at: Journal.path(forRoot: session.stateRoot))
            journaled = JournalSet.merge([try journal.records()] + (others.map { [$0] } ?? []))
            plan = try Planner(baseDirectory: session.baseDirectory, completed: JournalState(records: journaled))
                .plan(session.job, resolution: listed)
        } catch {
            if stopper.isStopped {
                Console.error("stopped while listing: nothing was transferred")
                fflush(nil)
                _exit(130)
            }
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
        let datasets = BIDSFiles.datasets(of: plan, jobPath: session.jobPath, flowctlVersion: Flowctl.version)
        let (report, roots) = await execute(plan, session: session, journal: journal, journaled: journaled, stopper: stopper)
        signals.cancel()
        var written = report.written
        // A tree without its manifest (or a BIDS dataset without its description) is not what
        // was asked for: the run exits 1, though every file is in place (it exited 0).
        var unfinished = false
        for (root, dataset) in datasets.sorted(by: { $0.key < $1.key }) where FileManager.default.fileExists(atPath: root) {
            do {
                for file in try BIDSFiles.write(dataset, to: root) { written["bids:" + file.destination] = file }
            } catch {
                Console.error("error: cannot write the BIDS dataset files in \(root): \(error); run again once it is writable")
                unfinished = true
            }
        }
        // Shards leave the manifest to `flowctl gather`, which reads every shard's journal: a
        // shard's own manifest would overwrite its siblings'.
        if shardSpec == nil, !Self.writeManifests(roots: roots, session: session, files: written) { unfinished = true }
        Console.error(RunSummary.text(report))
        if self.report || reportPath != nil {
            let root = URL(fileURLWithPath: session.stateRoot).standardizedFileURL.path
            let path = reportPath ?? ReportFile.defaultPath(forRoot: root)
            do { Console.error(ReportSummary.line(try ReportFile.write(root: root, to: path), path: path)) }
            catch { Console.error("warning: cannot write the report \(path): \(error)") }
        }
        // Everything the run leaves behind is written: the journal's last batch, the manifests,
        // the summary, the last event. Tearing down the curl threads and freeing the run's memory
        // would keep the user waiting another 6-13 ms (10,000 files) for what the kernel does
        // anyway, so the process ends here. `_exit`, not `exit`: no atexit handler (OpenSSL's
        // cleanup) runs while the idle curl threads still hold their handles.
        fflush(nil)
        withExtendedLifetime(runLock) {}  // held to the very end: the kernel drops it at exit
        _exit(report.interrupted && report.failures.isEmpty ? 130 : report.succeeded && !unfinished ? 0 : 1)
    }

    /// Takes the journal's run lock (`<journal>.lock`), or says who holds it, or why the output
    /// folder cannot hold it (`elsewhere`: how to choose another), and exits 1.
    static func lockJournal(_ journalPath: String, root: String, elsewhere: String) throws -> ExclusiveFileLock {
        let folder = URL(fileURLWithPath: root).standardizedFileURL.path
        // gethostname, not ProcessInfo.hostName, which may wait on DNS for a canonical name.
        var name = [CChar](repeating: 0, count: 256)
        let host = gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "this host"
        let holder = "pid \(getpid()) on \(host), since \(Timestamp.iso8601(Timestamp.now))"
        do throws(ExclusiveFileLock.Failure) {
            return try ExclusiveFileLock.acquire(path: journalPath + ".lock", holder: holder)
        } catch {
            switch error {
            case .held(let other):
                Console.error("error: another flowctl run (\(other)) is writing \(folder); "
                    + "wait for it to end, or stop it (Ctrl-C, or kill its pid), then run again")
            case .fileSystem(let failure):
                Console.error("error: cannot write the output folder \(folder): \(failure.path): \(failure.message); "
                    + "make it writable, or choose another (\(elsewhere))")
            }
            throw ExitCode(1)
        }
    }

    /// Runs the plan; returns the report and the output roots. The plan and the executor's state
    /// die here, before the manifests are built (10,000 items weigh ~20 MB).
    private func execute(_ plan: consuming FlowPlanner.Plan, session: JobSession, journal: Journal,
                         journaled: [String: TaskRecord], stopper: RunStopper) async -> (RunReport, Set<String>) {
        var sinks: [any EventSink] = []
        if events == .json { sinks.append(JSONEventWriter()) }
        if !quiet { sinks.append(ProgressDisplay(live: Console.stderrIsTerminal)) }
        // What `flowctl report` reads beside the journal: the plan's graph and this run's events.
        do { sinks.append(try RunRecord.begin(journal: journal.path, plan: plan)) }
        catch { Console.error("warning: cannot record the run for its report: \(error)") }
        let roots = Set(plan.roots.values)
        let executor = Executor(plan: plan, connectors: session.connectors, journal: journal,
                                options: ExecutorOptions(jobs: jobs, keepGoing: keepGoing || locked, locked: locked),
                                events: EventFanOut(sinks), journaled: journaled)
        stopper.whenStopped { executor.stop() }
        let report = await executor.run()
        return (report, roots)
    }
}

extension Run {
    /// Provenance: every download root gets a `flowctl-manifest.json` of what the journal says is
    /// there. Returns whether every one was written (each failure is said).
    @discardableResult
    static func writeManifests(roots: Set<String>, session: JobSession, files: [String: WrittenFile]) -> Bool {
        var all = true
        for root in roots.sorted() where FileManager.default.fileExists(atPath: root) {
            let manifest = Manifest.build(root: root, job: session.job.name, flowctlVersion: Flowctl.version,
                                          files: files.values)
            do { try manifest.write(to: root) } catch {
                Console.error("error: cannot write the manifest in \(root): \(error); the files are in place, "
                    + "and a re-run writes it once the path is writable (`flowctl verify` needs it)")
                all = false
            }
        }
        return all
    }
}

/// The final words of a run.
enum RunSummary {
    static func text(_ report: RunReport) -> String {
        let rate = report.seconds > 0 ? Double(report.bytes) / report.seconds : 0
        var text = "\(report.finished) done, \(Quantities.formatBytes(report.bytes)) in \(String(format: "%.1f", report.seconds)) s"
            + " (\(Quantities.formatBytes(Int64(rate)))/s), \(report.retries) retries, \(report.skipped) skipped"
            + ", \(report.failures.count) failed"
        if report.stoppedInFlight > 0 { text += ", \(report.stoppedInFlight) stopped in flight" }
        if report.notStarted > 0 { text += ", \(report.notStarted) not started" }
        if report.interrupted { text += "; interrupted: partial files are kept and resume on the next run" }
        let upstream = report.failures.filter { $0.kind == .drift }
        if !upstream.isEmpty {
            text += "\n\(upstream.count) item(s) changed or vanished upstream since the lock; "
                + "`flowctl plan` shows the drift, `flowctl lock --update` accepts it"
        }
        if report.failures.contains(where: \.isOutOfSpace) {
            text += "\nthe disk (or quota) is full: free some space, or choose another output folder, and run again; "
                + "finished files are kept and partial ones resume"
        }
        for failure in report.failures { text += "\n  failed \(failure)" }
        return text
    }
}

/// What a stop request stops: the listing first, then the executor.
final class RunStopper: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var actions: [@Sendable () -> Void] = []

    var isStopped: Bool { lock.withLock { stopped } }

    /// Runs `action` on a stop, at once if the stop has already come.
    func whenStopped(_ action: @escaping @Sendable () -> Void) {
        let now = lock.withLock {
            if !stopped { actions.append(action) }
            return stopped
        }
        if now { action() }
    }

    func stop() {
        let due = lock.withLock {
            stopped = true
            defer { actions = [] }
            return actions
        }
        for action in due { action() }
    }
}

/// What a stop signal does, by what came before: the first SIGINT or SIGTERM stops cleanly, a
/// later SIGINT exits at once, a later SIGTERM is ignored (see `SignalTrap`).
struct SignalCounter {
    enum Response: Equatable { case stop, exitNow, ignore }
    private var count = 0

    mutating func received(_ signal: Int32) -> Response {
        count += 1
        if count == 1 { return .stop }
        return signal == SIGINT ? .exitNow : .ignore
    }
}

/// First SIGINT/SIGTERM: ask the run to stop cleanly. A second SIGINT: exit at once (the journal
/// is SQLite in WAL mode, consistent at any instant). A repeated SIGTERM changes nothing: Slurm's
/// `scancel` signals every process of a job, so a batch script that forwards its own TERM would
/// otherwise make the stop a kill; SIGKILL follows anyway when the stop takes too long.
final class SignalTrap: @unchecked Sendable {
    private var sources: [any DispatchSourceSignal] = []
    private let lock = NSLock()
    private var counter = SignalCounter()

    init(onFirst: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                let response = lock.withLock { counter.received(sig) }
                switch response {
                case .stop:
                    FileHandle.standardError.write(Data("\nstopping: finishing safely (Ctrl-C again to quit at once)\n".utf8))
                    onFirst()
                case .exitNow:
                    _exit(130)
                case .ignore:
                    break
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
