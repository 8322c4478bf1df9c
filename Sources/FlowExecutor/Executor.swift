import FlowFiles
import Foundation
import FlowConnector
import FlowModel
import FlowPlanner
import Synchronization

/// How a run behaves.
public struct ExecutorOptions: Sendable {
    /// Tasks running at once across all sources, each in a worker of its own: a download holds
    /// its worker until its file is verified and in place. Waits on remote jobs do not count.
    /// Each source's `concurrency` caps its own tasks within this.
    public var jobs: Int
    /// Go on with independent work after a failure (default: stop starting new work).
    public var keepGoing: Bool
    /// Journal group commit: at most this many completions or this many seconds per batch.
    public var batchSize: Int
    public var batchSeconds: Double
    /// A filesystem sync (which marks journaled files durable) at most this often, in the background.
    public var syncSeconds: Double
    /// Items come from a lock file: a checksum mismatch or a missing item means the remote
    /// changed since the lock, which is reported, never retried.
    public var locked: Bool

    public init(jobs: Int = 16, keepGoing: Bool = false, batchSize: Int = 512, batchSeconds: Double = 0.5,
                syncSeconds: Double = 5, locked: Bool = false) {
        self.jobs = max(1, jobs)
        self.keepGoing = keepGoing
        self.locked = locked
        self.batchSize = batchSize
        self.batchSeconds = batchSeconds
        self.syncSeconds = syncSeconds
    }
}

/// Walks a plan's task graph: bounded concurrency, per-task retries, journal group commit.
/// Dependencies gate starts, so item 1's result downloads while item 9's job still runs.
public final class Executor: Sendable {
    let plan: Plan
    let connectors: [String: any Connector]
    let journal: Journal
    let options: ExecutorOptions
    let events: any EventSink
    /// The journal's records before the run, when the caller has already read them.
    let earlier: [String: TaskRecord]?
    let stopFlag = StopFlag()
    let folders = OutputFolders()
    /// Archive task id -> positions of the downloads that wait for it.
    let archiveMembers: [String: [Int]]
    /// The run in progress, for `stop`.
    private let running = Mutex<RunState?>(nil)

    public init(plan: Plan, connectors: [String: any Connector], journal: Journal,
                options: ExecutorOptions = .init(), events: any EventSink, journaled earlier: [String: TaskRecord]? = nil) {
        self.plan = plan
        self.connectors = connectors
        self.journal = journal
        self.options = options
        self.events = events
        self.earlier = earlier
        var members: [String: [Int]] = [:]
        let tasks = plan.graph.tasks
        for i in tasks.indices where tasks[i].kind == .download {
            if let archive = tasks[i].parameters["archive"] { members[archive, default: []].append(i) }
        }
        archiveMembers = members
    }

    /// Asks the run to start nothing new; in-flight transfers are cancelled, their `.part`
    /// files kept for resume, and the journal saved.
    public func stop() {
        stopFlag.set()
        running.withLock { $0 }?.stop()
    }

    /// What a finished task hands to the tasks that depend on it.
    enum Outcome: Sendable {
        /// `files`: one record per file a task wrote besides its own (outputs of a remote job),
        /// so the provenance manifest lists each of them.
        /// `wroteFile`: the task wrote to the output folders (a later filesystem sync makes it durable).
        case done(TaskRecord, outputs: [RemoteItem], transferred: Int64, resumed: Bool, retries: Int, wroteFile: Bool,
                  files: [TaskRecord] = [])
        case failed(TaskFailure, retries: Int, restartRun: Bool = false)
        case cancelled
    }

    public func run() async -> RunReport {
        let clock = ContinuousClock.now
        let earlier = self.earlier ?? (try? journal.records()) ?? [:]
        let committer = JournalCommitter(journal: journal, syncRoots: Array(Set(plan.roots.values)).sorted(),
                                         batchSize: options.batchSize, batchSeconds: options.batchSeconds,
                                         syncSeconds: options.syncSeconds)
        // A worker takes a task only while its source has room: none waits on a busy source.
        var limits = connectors.mapValues(\.spec.concurrency)
        for action in plan.job.actions { if let convert = action.convert { limits[ConvertSpec.lane(of: action.name)] = convert.concurrency } }
        let state = RunState(graph: plan.graph, limits: limits, earlier: earlier,
                             committer: committer, events: events, keepGoing: options.keepGoing)
        running.withLock { $0 = state }
        if stopFlag.isSet { state.stop() }
        let runID = try? journal.beginRun(job: plan.job.name)
        announce()
        await announceUploads(earlier)
        await work(state)
        var report = state.report
        report.failures.insert(contentsOf: plan.problems.map(TaskFailure.init), at: 0)
        for failure in await committer.finish() { report.failures.append(TaskFailure(task: "journal", kind: .local, message: failure)) }
        if stopFlag.isSet && report.failures.isEmpty { report.interrupted = true }
        let elapsed = clock.duration(to: .now)
        report.seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        if let runID {
            try? journal.endRun(runID, outcome: report.succeeded ? "succeeded" : report.interrupted ? "interrupted" : "failed")
        }
        events.emit(.runFinished(report))
        return report
    }

    /// The run's first events: what it will do, what the plan left out, what it renamed.
    private func announce() {
        let tasks = plan.graph.tasks
        var pendingBytes: Int64 = 0
        var skippedCount = 0
        var barriers = 0  // no work: neither counted nor reported
        for i in tasks.indices {
            if tasks[i].kind == .barrier { barriers += 1 }
            else if tasks[i].isSkipped { skippedCount += 1 } else { pendingBytes += tasks[i].bytes ?? 0 }
        }
        events.emit(.runStarted(tasks: tasks.count - barriers, skipped: skippedCount, bytes: pendingBytes))
        // What the plan left out fails now, each with its reason; the rest runs all the same.
        for problem in plan.problems { events.emit(.notPlanned(TaskFailure(problem))) }
        if !plan.renames.isEmpty {
            for task in tasks where !task.isSkipped {
                if let renames = plan.renames[task.id] { events.emit(.renamed(task, renames: renames.map(\.description))) }
            }
        }
    }

    /// Runs every task: `jobs` workers on the sources' curl threads for transfers, a task of its
    /// own for each wait on a remote job; returns when nothing runs and nothing more will start.
    private func work(_ state: RunState) async {
        // Spread evenly over the curl threads: a download is submitted and finished on the
        // thread that moves its bytes, with no hop to another thread.
        let threads = connectors.keys.sorted().flatMap { connectors[$0]!.taskExecutors }
        await withTaskGroup(of: Void.self) { group in
            // Each worker takes the next ready task as it finishes one: no task and no hop
            // through this loop per file.
            for worker in 0..<options.jobs {
                group.addTask(executorPreference: threads.isEmpty ? nil : threads[worker % threads.count]) {
                    while let start = await state.nextTransfer() {
                        await state.finish(start, await self.perform(start))
                    }
                }
            }
            // Waits on remote jobs hold no worker.
            while true {
                switch await state.nextCoordinatorStep() {
                case .wait(let start): group.addTask { await state.finish(start, await self.perform(start)) }
                case .cancelInFlight: group.cancelAll()
                case .over: return
                }
            }
        }
    }

    /// Outputs a done task left in the journal (uploaded item, job results), for skipped tasks.
    static func outputsRecorded(in record: TaskRecord?) -> [RemoteItem] {
        guard let json = record?.remoteState, let data = json.data(using: .utf8),
              let state = try? JSONDecoder().decode(RemoteStateRecord.self, from: data) else { return [] }
        return state.outputs
    }

    // MARK: one task, with retries

    func perform(_ start: TaskStart) async -> Outcome {
        let task = start.task
        guard let connector = connectors[task.sourceName] ?? connectors[task.item?.source ?? ""] else {
            return .failed(TaskFailure(task: task.id, kind: .unsupported, message: "no connector for source `\(task.sourceName)`"), retries: 0)
        }
        let policy = RetryPolicy(connector.spec.retry)
        let began = ContinuousClock.now
        var attempt = 0
        while true {
            attempt += 1
            do {
                try Task.checkCancellation()
                let events = events
                return try await RequestRetries.$observer.withValue(RetryObserver { delay, reason in
                    events.requestRetried(task, delaySeconds: delay, reason: reason)
                }) {
                    try await execute(task, connector: connector, inputs: start.inputs, run: start.run,
                                      previous: start.previous, retries: attempt - 1)
                }
            } catch is CancellationError {
                return .cancelled
            } catch let error as ConnectorError {
                if Task.isCancelled { return .cancelled }
                let elapsed = began.duration(to: .now).components.seconds
                let decision = policy.decide(attempt: attempt, elapsed: Double(elapsed), failure: error.retryFailure,
                                             retryAfter: error.retryAfter, alreadyReauthenticated: true,
                                             jitter: Double.random(in: 0..<1))
                guard case .retry(let delay) = decision else {
                    return .failed(TaskFailure(task: task.id, error: error), retries: attempt - 1)
                }
                events.emit(.retried(task, attempt: attempt, delaySeconds: delay, reason: "\(error)"))
                do { try await Task.sleep(for: .seconds(delay)) } catch { return .cancelled }
            } catch {
                if Task.isCancelled { return .cancelled }
                return .failed(TaskFailure(task: task.id, error: error), retries: attempt - 1, restartRun: error is RemoteJobFailed)
            }
        }
    }

    /// One attempt at a task: the work of its kind, and the journal record of what it did.
    func execute(_ task: PlannedTask, connector: any Connector, inputs: [RemoteItem], run started: RemoteRun?,
                 previous: TaskRecord?, retries: Int) async throws -> Outcome {
        var record = TaskRecord(id: task.id, action: task.action, kind: task.kind.rawValue, state: .done,
                                attempts: retries + 1, source: task.item?.source, remoteID: task.item?.id,
                                startedAt: Date().timeIntervalSince1970)
        switch task.kind {
        case .download: return try await downloadItem(task, inputs: inputs, connector: connector, retries: retries, record: &record)
        case .downloadExtra: return try await downloadExtra(task, connector: connector, retries: retries, record: &record)
        case .upload: return try await upload(task, connector: connector, retries: retries, record: &record)
        case .tag: return try await tag(task, inputs: inputs, connector: connector, retries: retries, record: &record)
        case .run: return try await startRun(task, inputs: inputs, connector: connector, retries: retries, record: &record)
        case .wait: return try await wait(task, run: started, connector: connector, retries: retries, record: &record)
        case .downloadOutputs:
            return try await downloadOutputs(task, inputs: inputs, connector: connector, retries: retries, record: &record)
        case .convert: return try await convert(task, retries: retries, record: &record)
        case .barrier: throw ExecutionError("a barrier is passed by the schedule, never performed")
        case .downloadArchive: return try await downloadArchive(task, connector: connector, retries: retries, record: &record)
        }
    }

    /// A listed item to its place, verified.
    func downloadItem(_ task: PlannedTask, inputs: [RemoteItem], connector: any Connector, retries: Int,
                      record: inout TaskRecord) async throws -> Outcome {
        guard let item = task.item, let destination = task.destination else { throw ExecutionError("download without item") }
        // Extracted from its archive (size and digests checked there): journaled, not fetched.
        let result: FetchResult
        if let fromArchive = Self.extracted(item, at: destination, from: inputs) { result = fromArchive } else {
            result = try await download(item, to: destination, taskID: task.id, connector: connector, firstAttempt: retries == 0)
        }
        record.bytesTransferred = result.bytesTransferred
        record.size = result.fileSize
        record.sha256 = result.checksum(.sha256)
        record.serverChecksum = item.checksums.first { $0.algorithm != .sha256 }.map { "\($0.algorithm.rawValue):\($0.value)" }
        record.remoteVersion = item.version
        record.destination = destination
        record.markWritten()
        return .done(record, outputs: [], transferred: result.bytesTransferred, resumed: result.resumed, retries: retries,
                     wroteFile: true)
    }

    /// An item's extra document (`qc`, `visit-metadata`) beside it.
    func downloadExtra(_ task: PlannedTask, connector: any Connector, retries: Int, record: inout TaskRecord) async throws -> Outcome {
        guard let item = task.item, let destination = task.destination else { throw ExecutionError("extra without item") }
        let bytes = try await connector.extra(task.parameters["extra"] ?? "", of: item)
        try writeAtomically(bytes, to: destination)
        record.size = Int64(bytes.count)
        record.bytesTransferred = Int64(bytes.count)
        record.destination = destination
        record.markWritten()
        return .done(record, outputs: [], transferred: Int64(bytes.count), resumed: false, retries: retries, wroteFile: true)
    }

    /// A local file to the source; its remote item goes downstream.
    func upload(_ task: PlannedTask, connector: any Connector, retries: Int, record: inout TaskRecord) async throws -> Outcome {
        guard let (file, destination) = Self.uploadRequest(task) else { throw ExecutionError("upload without item") }
        let overwrite = plan.job.action(named: task.action)?.overwrite ?? false
        // What the upload needs to go on after a kill goes to the journal as it happens.
        let outcome = try await connector.upload(file, into: destination, overwrite: overwrite)
        record.bytesTransferred = outcome.transferred ? file.size : 0
        record.size = file.size
        record.remoteState = RemoteStateRecord(outputs: [outcome.item]).json
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: [outcome.item], transferred: record.bytesTransferred, resumed: false,
                     retries: retries, wroteFile: false)
    }

    /// Upload resume state in the run's journal; a failed write only costs the resume.
    struct JournalResumeStore: UploadResumeStore {
        let journal: Journal
        func value(_ key: String) -> String? { try? journal.uploadResumeValue(key) }
        func set(_ key: String, _ value: String?) { try? journal.setUploadResumeValue(key, value) }
    }

    /// The local file an upload task sends, and where to.
    static func uploadRequest(_ task: PlannedTask) -> (LocalFile, [String: String])? {
        guard let item = task.item else { return nil }
        var destination = task.parameters
        destination["to"] = nil
        return (LocalFile(path: item.url, relativePath: item.field("file.path") ?? item.id, size: item.size ?? 0), destination)
    }

    /// Tells each connector which files this run will upload where (not those done before), in
    /// the order they will start, so it may send them together, and where to keep resume state.
    func announceUploads(_ earlier: [String: TaskRecord]) async {
        var groups: [String: (connector: any Connector, destination: [String: String], files: [LocalFile])] = [:]
        var order: [String] = []
        for task in plan.graph.tasks where task.kind == .upload && task.skipReason == nil && earlier[task.id]?.state != .done {
            guard let connector = connectors[task.sourceName] ?? connectors[task.item?.source ?? ""],
                  let (file, destination) = Self.uploadRequest(task) else { continue }
            let key = task.sourceName + "\u{0}" + destination.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{0}")
            if groups[key] == nil { order.append(key); groups[key] = (connector, destination, []) }
            groups[key]!.files.append(file)
        }
        guard !order.isEmpty else { return }
        // What an upload needs to go on after a kill goes to the journal as it happens.
        for connector in connectors.values { connector.resumeUploads(in: JournalResumeStore(journal: journal)) }
        for key in order { await groups[key]!.connector.plannedUploads(groups[key]!.files, into: groups[key]!.destination) }
    }

    /// Tags on what upstream produced (or the item itself).
    func tag(_ task: PlannedTask, inputs: [RemoteItem], connector: any Connector, retries: Int,
             record: inout TaskRecord) async throws -> Outcome {
        let targets = inputs.isEmpty ? [task.item].compactMap { $0 } : inputs
        let tags = (task.parameters["tags"] ?? "").split(separator: ",").map(String.init)
        for target in targets { try await connector.tag(target, with: tags) }
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: targets, transferred: 0, resumed: false, retries: retries, wroteFile: false)
    }

    /// Starts a remote job; its id reaches the journal before anything downstream starts.
    func startRun(_ task: PlannedTask, inputs: [RemoteItem], connector: any Connector, retries: Int,
                  record: inout TaskRecord) async throws -> Outcome {
        // The input is what the upstream task produced (an uploaded item), else the item itself.
        guard let input = inputs.first ?? task.item else { throw ExecutionError("run without input") }
        let run = try await connector.startRun(task.parameters["target"] ?? "", input: input,
                                               inputName: task.parameters["input"].flatMap { $0.isEmpty ? nil : $0 })
        record.remoteID = run.id
        record.remoteState = RemoteStateRecord(outputs: [input], run: run).json
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: [input], transferred: 0, resumed: false, retries: retries, wroteFile: false)
    }

    /// Waits for a started job; its outputs go downstream.
    func wait(_ task: PlannedTask, run started: RemoteRun?, connector: any Connector, retries: Int,
              record: inout TaskRecord) async throws -> Outcome {
        guard let run = started else { throw ExecutionError("no started job recorded for \(task.item?.id ?? task.id)") }
        let outputs = try await waitFor(run, timeout: Double(task.parameters["timeout"] ?? "") ?? 3600,
                                        poll: Double(task.parameters["poll"] ?? "") ?? 5, connector: connector)
        record.remoteID = run.id
        record.remoteState = RemoteStateRecord(outputs: outputs, run: run).json
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: outputs, transferred: 0, resumed: false, retries: retries, wroteFile: false)
    }

    /// A finished job's outputs to their places (each journaled as a file of its own).
    func downloadOutputs(_ task: PlannedTask, inputs: [RemoteItem], connector: any Connector, retries: Int,
                         record: inout TaskRecord) async throws -> Outcome {
        guard let action = plan.job.action(named: task.action), let root = task.root else {
            throw ExecutionError("download of outputs without an action")
        }
        let layout = plan.job.layout(of: action)
        var total: Int64 = 0
        var files: [TaskRecord] = []
        // One output that cannot be kept (a name that climbs, a bad body) costs only itself: the
        // others are fetched first, then the task fails naming it (a re-run adopts those in place).
        var refused: [(id: String, error: any Error)] = []
        for output in inputs {
            do {
                var fields = output.allFields
                for (key, value) in task.item?.allFields ?? [:] where fields[key] == nil { fields[key] = value }
                let destination = root + "/" + (try layout.render(fields))
                let checksums: [Checksum]
                if let size = FileStat.size(destination), size == output.size {
                    checksums = try await Self.adopt(destination, item: output).checksums
                } else {
                    let result = try await download(output, to: destination, taskID: task.id, connector: connector)
                    total += result.bytesTransferred
                    checksums = result.checksums
                }
                files.append(TaskRecord(id: "\(task.id)#\(output.id)", action: task.action, kind: "output-file", state: .done,
                                        size: FileStat.size(destination),
                                        sha256: checksums.first { $0.algorithm == .sha256 }?.value, source: output.source,
                                        remoteID: output.id, destination: destination, finishedAt: Date().timeIntervalSince1970,
                                        durable: false, bootID: BootIdentity.current))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                refused.append((output.id, error))
            }
        }
        if let transient = refused.lazy.compactMap({ $0.error as? ConnectorError }).first(where: { $0.isTransient }) {
            throw transient  // the task is tried again; what arrived is adopted in place
        }
        if refused.count == 1, let only = refused.first?.error as? ConnectorError { throw only }
        if !refused.isEmpty {
            let each = refused.map { "\($0.id): \($0.error)" }.joined(separator: "; ")
            throw ConnectorError.badReply("\(refused.count) of \(inputs.count) outputs not kept (the others arrived): \(each)")
        }
        record.bytesTransferred = total
        record.remoteState = RemoteStateRecord(outputs: inputs).json
        record.finishedAt = Date().timeIntervalSince1970
        return .done(record, outputs: inputs, transferred: total, resumed: false, retries: retries,
                     wroteFile: !files.isEmpty, files: files)
    }

    /// Streams an item to `<destination>.part` (or, when small, to an unnamed file), verifies
    /// size and checksums, then gives it its name atomically; returns what was fetched
    /// (`fileSize` is the size of the file now at `destination`).
    func download(_ item: RemoteItem, to destination: String, taskID: String,
                  connector: any Connector, firstAttempt: Bool = false) async throws -> FetchResult {
        let part = destination + ".part"
        try folders.ensureParent(of: destination)
        // In place but not in the journal: a run killed between the rename and its journal
        // batch, or a file put there by hand. Checked against the listing and journaled, not
        // fetched again; a file that does not match is fetched and replaced.
        if let expected = item.size, folders.mayPredate(destination), FileStat.size(destination) == expected {
            let found = try await Self.adopt(destination, item: item)
            if item.checksums.allSatisfy({ found.checksum($0.algorithm) == $0.value }) { return found }
        }
        // A retry may find a `.part` its first attempt wrote; a first attempt trusts the listing.
        let partSize = firstAttempt && !folders.mayHold(part) ? nil : FileStat.size(part)
        let sink = events
        let result: FetchResult
        if let partSize, let expected = item.size, partSize == expected {
            // A run killed between the last byte and the rename left a whole file: check it
            // instead of asking for an empty range (416).
            result = try await Self.adopt(part, item: item)
        } else {
            // Longer than listed: its bytes cannot be the file's; start again.
            var resumable = partSize
            if let size = partSize, let expected = item.size, size > expected {
                unlink(part)
                resumable = nil
            }
            do {
                // Small files go through an unnamed file linked into place; a larger one (by the
                // listing, or by the answer's length) through a `.part` that a killed run resumes.
                let small = (item.size ?? 0) <= UnnamedFile.sizeLimit
                result = try await connector.fetch(item, to: part, resume: resumable != nil,
                                                   unnamed: resumable == nil && small) { bytes in
                    sink.emit(.progress(taskID: taskID, bytes: bytes))
                }
            } catch ConnectorError.status(let code, _, _, _) where options.locked && (code == 404 || code == 410) {
                throw ConnectorError.changedUpstream("\(item.id) vanished (HTTP \(code))")
            } catch ConnectorError.integrity(let message) {
                // The server sent more than the listed size: none of it is kept, nor resumed
                // from (the first listed-size bytes of a lying body are no file).
                unlink(part)
                throw options.locked ? ConnectorError.changedUpstream("\(item.id): \(message)") : ConnectorError.integrity(message)
            } catch ConnectorError.status(416, let url, let message, _) {
                // The server will not continue this .part (it changed, or it is complete): start clean.
                unlink(part)
                throw ConnectorError.integrity("\(item.id): \(URLText.redacted(url)) refused to resume (416 \(message))")
            }
        }
        // A mismatch against a lock is news about the remote; against a listing, a damaged transfer.
        // A rejected unnamed file is simply dropped.
        func mismatch(_ message: String) -> ConnectorError {
            if result.unnamedFile == nil { unlink(part) }
            return options.locked ? .changedUpstream(message) : .integrity(message)
        }
        let promised = options.locked ? "the lock says" : "the listing says"
        if let expected = item.size, result.fileSize != expected {
            throw mismatch("\(item.id): \(result.fileSize) bytes arrived, \(promised) \(expected)")
        }
        for checksum in item.checksums {
            if let got = result.checksum(checksum.algorithm), got != checksum.value {
                throw mismatch("\(item.id): \(checksum.algorithm.rawValue) is \(got), \(promised) \(checksum.value)")
            }
        }
        if let file = result.unnamedFile {
            do { try file.link(as: destination) } catch { throw ConnectorError.local("\(error)") }
        } else if rename(part, destination) != 0 {
            throw ConnectorError.local("cannot rename \(part): \(String(cString: strerror(errno)))")
        }
        return result
    }

    /// Digests of a `.part` left complete by an earlier run, as if it had just been fetched.
    static func adopt(_ part: String, item: RemoteItem) async throws -> FetchResult {
        guard let size = FileStat.size(part) else {
            throw ConnectorError.integrity("\(item.id): the file vanished while it was checked")
        }
        let wanted = Set(item.checksums.compactMap { DigestAlgorithm(rawValue: $0.algorithm.rawValue) })
        let digests = try await FileDigest.compute(path: part, algorithms: wanted.union([.sha256]))
        let checksums = digests.map { Checksum(ChecksumAlgorithm(rawValue: $0.key.rawValue)!, $0.value) }
        return FetchResult(bytesTransferred: 0, fileSize: size, checksums: checksums, resumed: true)
    }

    /// Polls a remote job until it ends, backing off from `poll` up to 60 s; holds no worker.
    /// Bounded by `timeout` (the action's `wait: {timeout: ...}`): past it, the failure names
    /// the job, its input, the bound and the last status the platform gave.
    func waitFor(_ run: RemoteRun, timeout: Double, poll: Double, connector: any Connector) async throws -> [RemoteItem] {
        let start = ContinuousClock.now
        var interval = max(0.05, poll)
        while true {
            let status: String
            switch try await connector.poll(run) {
            case .succeeded(let outputs): return outputs
            case .failed(let message): throw RemoteJobFailed(description: "job \(run.id) on \(run.input.id) failed: \(message)")
            case .running(let said): status = said
            }
            let elapsed = start.duration(to: .now)
            if elapsed > .seconds(timeout) {
                throw RemoteJobTimedOut(description: "job \(run.id) on \(run.input.id) did not finish within \(Quantities.secondsText(timeout)) "
                                        + "(its last status: \(ErrorText.quoted(status))); raise the action's `wait: {timeout: ...}`, "
                                        + "or re-run later: the re-run waits for the same job")
            }
            try await Task.sleep(for: .seconds(min(interval, max(0.05, timeout - Double(elapsed.components.seconds)))))
            interval = min(interval * 1.5, max(poll, 60))
        }
    }

    /// Writes a small document through a `.part` file and a rename.
    func writeAtomically(_ bytes: [UInt8], to destination: String) throws {
        try folders.ensureParent(of: destination)
        do { try FileSync.replace(destination, with: bytes) } catch { throw ConnectorError.local("cannot write \(error)") }
    }
}

extension TaskRecord {
    /// A file was just renamed into place: finished now, in the page cache until a sync.
    mutating func markWritten() {
        finishedAt = Date().timeIntervalSince1970
        durable = false
        bootID = BootIdentity.current
    }
}

/// What the journal keeps of uploads and remote jobs.
struct RemoteStateRecord: Codable {
    var outputs: [RemoteItem]
    var run: RemoteRun?

    init(outputs: [RemoteItem], run: RemoteRun? = nil) {
        self.outputs = outputs
        self.run = run
    }

    init?(json: String) {
        guard let value = try? JSONDecoder().decode(RemoteStateRecord.self, from: Data(json.utf8)) else { return nil }
        self = value
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }
}

/// A remote job ended in failure: a re-run must start a new one, not wait on this one again.
struct RemoteJobFailed: Error, CustomStringConvertible {
    var description: String
}

/// A remote job did not end within its wait's bound; it may still run, and a re-run waits for it again.
struct RemoteJobTimedOut: Error, CustomStringConvertible {
    var description: String
}

/// A failure inside the executor, with a message for the final report.
public struct ExecutionError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A flag set once from any thread (a signal handler, a failed task).
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    public init() {}
    public func set() { lock.lock(); value = true; lock.unlock() }
    public var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// The output folders of one run, each created or read once: 10,000 files in 100 folders cost
/// 100 `mkdir` calls, not 10,000, and a first attempt learns from the folder's listing whether
/// its `.part` file is there instead of asking with a `stat` that nearly always fails.
final class OutputFolders: @unchecked Sendable {
    private let lock = NSLock()
    /// Per folder seen: the names of the `.part` files it held then (none in one made by this run).
    private var parts: [String: Set<String>] = [:]
    /// Folders this run made: nothing in them predates it.
    private var made: Set<String> = []

    /// Makes sure the folder of `path` exists.
    func ensureParent(of path: String) throws {
        guard let (folder, _) = Self.split(path), lock.withLock({ parts[folder] }) == nil else { return }
        var found = Self.partNames(in: folder)
        if found == nil {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw ConnectorError.local("cannot create folder \(folder): \(error.localizedDescription)")
            }
            found = []
            lock.withLock { _ = made.insert(folder) }
        }
        lock.withLock { parts[folder] = parts[folder] ?? found }
    }

    /// Whether a file at `path` may predate this run (its folder did): worth a `stat`.
    func mayPredate(_ path: String) -> Bool {
        guard let (folder, _) = Self.split(path) else { return true }
        return lock.withLock { !made.contains(folder) }
    }

    /// False when `part`'s folder held no file of that name when this run first looked (call
    /// `ensureParent` first). Only what the run itself writes can appear later: a retry asks the disk.
    func mayHold(_ part: String) -> Bool {
        guard let (folder, name) = Self.split(part), let known = lock.withLock({ parts[folder] }) else { return true }
        return known.contains(name)
    }

    private static func split(_ path: String) -> (folder: String, name: String)? {
        guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")), slash != path.utf8.startIndex else { return nil }
        return (String(path[..<slash]), String(path[path.utf8.index(after: slash)...]))
    }

    /// Names ending in `.part` in `folder`; nil when it cannot be read (it does not exist).
    private static func partNames(in folder: String) -> Set<String>? {
        guard let stream = opendir(folder) else { return nil }
        defer { closedir(stream) }
        var names = Set<String>()
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix(".part") { names.insert(name) }
        }
        return names
    }
}
