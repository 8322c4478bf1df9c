import FlowFiles
import Foundation
import ArgumentParser
import FlowAgora
import FlowConnector
import FlowExecutor
import FlowGrandChallenge
import FlowJobFile
import FlowLocal
import FlowLORIS
import FlowWebFolder
import FlowXNAT
import FlowModel
import FlowPlanner

/// A loaded job with its connectors: the shared first steps of plan, run, lock and status.
struct JobSession {
    let job: Job
    /// The job file as given on the command line.
    let jobPath: String
    /// The job file's folder: relative paths in the job are relative to it.
    let baseDirectory: String
    let connectors: [String: any Connector]

    /// Loads and checks the job (printing diagnostics), and connects its sources; with
    /// `credentials: false` (status) no credential command is run and nothing is asked for.
    static func open(_ options: JobOptions, credentials: Bool = true) throws -> JobSession {
        try open(JobLoader(overrides: options.overrides).load(path: options.job), path: options.job, credentials: credentials)
    }

    /// For commands that only read the journal and the output folder (`status`, `report`,
    /// `gather`): a shell without the job's credentials in its environment is no error (they
    /// refused "environment variable `XNAT_PASS` is not set" where nothing is sent), and unset
    /// variables are not mentioned; the journal's path is printed, so a folder named by one shows.
    static func openForJournal(_ options: JobOptions) throws -> JobSession {
        var result = JobLoader(overrides: options.overrides, tolerateUnsetEnvironment: true).load(path: options.job)
        result.diagnostics.removeAll { $0.severity == .warning && $0.message.hasPrefix("environment variable `") }
        return try open(result, path: options.job, credentials: false)
    }

    /// Connects the sources of a loaded job (printing its diagnostics first).
    static func open(_ result: LoadResult, path: String, credentials: Bool = true) throws -> JobSession {
        if !result.diagnostics.isEmpty { Console.error(result.rendered()) }
        guard let job = result.job else { throw ExitCode(1) }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().standardizedFileURL.path
        var connectors: [String: any Connector] = [:]
        for spec in job.sources {
            if credentials, spec.netrc, let warning = Credentials.netrcWarning(home: Credentials.home) {
                Console.error("\(path): warning: source `\(spec.name)`: \(warning)")
            }
            do {
                let spec = credentials ? try Credentials.complete(spec) : spec
                connectors[spec.name] = try ConnectorFactory.make(resolvingPaths(of: spec, against: base))
            } catch {
                Console.error("\(path): source `\(spec.name)`: \(error)")
                throw ExitCode(1)
            }
        }
        return JobSession(job: job, jobPath: path, baseDirectory: base, connectors: connectors)
    }

    /// A converter the job names but this machine lacks fails `plan` and `run` before any
    /// listing, not half-way through a run.
    func requireConverters() throws {
        let missing = Converter.missing(in: job)
        guard !missing.isEmpty else { return }
        for message in missing { Console.error("\(jobPath): error: \(message)") }
        throw ExitCode(1)
    }

    /// Local folders and CA bundles given relative to the job file.
    static func resolvingPaths(of spec: SourceSpec, against base: String) -> SourceSpec {
        var spec = spec
        func absolute(_ path: String) -> String {
            path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardizedFileURL.path
        }
        if spec.type == .local { spec.url = absolute(spec.url) }
        if let ca = spec.tls.caBundle { spec.tls.caBundle = absolute(ca) }
        if let index = spec.options["index"] { spec.options["index"] = absolute(index) }
        return spec
    }

    /// Where the journal lives: the first download's output folder; for a job that downloads
    /// nothing, a folder of the user's state directory named after the job and its path (not
    /// beside the job file, where it would land in the job's git repository).
    var stateRoot: String {
        let planner = Planner(baseDirectory: baseDirectory)
        if let download = job.actions.first(where: { $0.kind == .download }) { return planner.root(of: download) }
        return Self.stateDirectory(environment: ProcessInfo.processInfo.environment) + "/" + Self.stateName(
            job: job.name, path: URL(fileURLWithPath: jobPath).standardizedFileURL.path)
    }

    /// `$XDG_STATE_HOME/flowctl`, by default `~/.local/state/flowctl`.
    static func stateDirectory(environment: [String: String]) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/flowctl" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.local/state/flowctl"
    }

    /// `<job>-<12 hex of the job file's path>`: one journal per job file, two copies kept apart.
    static func stateName(job: String, path: String) -> String {
        let safe = job.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }
        return String(safe) + "-" + FileDigest.sha256(Array(path.utf8)).prefix(12)
    }

    /// What is already done: the journal when there is one (read-only), else the files on disk.
    func completedWork() -> any CompletedWork {
        guard let records = try? JournalSet.records(forRoot: stateRoot) else { return FilesOnDisk() }
        return JournalState(records: records)
    }

    /// Lists every selection the actions use (with what could not be listed), saying on stderr
    /// when a request is retried: a host that does not answer kept the terminal silent for 25 s.
    func resolve() async throws -> Resolver.Resolution {
        let notice = RetryNotice { Console.error($0) }
        return try await RequestRetries.$observer.withValue(RetryObserver { notice.retrying(in: $0, because: $1) }) {
            try await Resolver(connectors: connectors).resolve(job)
        }
    }

    /// Warns of each selection that matched nothing; true when there was one.
    @discardableResult
    func warnOfEmptySelections(_ resolution: Resolver.Resolution) -> Bool {
        for name in resolution.emptySelections {
            let source = job.selection(named: name)?.source ?? "?"
            Console.error("warning: selection `\(name)` matches nothing on `\(source)`; check its filters "
                + "(`flowctl explore \(jobPath) \(source)` shows what the source holds)")
        }
        return !resolution.emptySelections.isEmpty
    }

    /// The items of the lock file, or a listing: what `run` and `plan` work from.
    func items(locked: Bool, strictJob: Bool = false) async throws -> Resolver.Resolution {
        locked ? Resolver.Resolution(items: try lockedItems(strictJob: strictJob)) : try await resolve()
    }

    /// One shard's part of the items (a warning when the shard gets none).
    func shardPart(_ resolution: Resolver.Resolution, shard: ShardSpec, field: String?) -> Resolver.Resolution {
        let types = Dictionary(job.sources.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })
        let part = ShardPartition.part(resolution.items, shard: shard, types: types, field: field)
        if let warning = part.emptyShardsWarning(count: shard.count) { Console.error(warning) }
        let count = part.items.values.reduce(0) { $0 + $1.count }
        let cut = part.cutGroups > 0 ? " (\(part.cutGroups) cut one level down: each alone was over a shard's share)" : ""
        Console.error("shard \(shard): \(part.groupsInShard) of \(part.groups) group(s)\(cut), \(count) item(s)")
        return Resolver.Resolution(items: part.items, problems: resolution.problems)
    }

    /// The items of the lock file instead of a listing (no listing request is made).
    /// With `strictJob` (shards), a job file changed since the lock is an error, not a warning:
    /// shards of one job must all cut the same items the same way.
    func lockedItems(strictJob: Bool = false) throws -> [String: [RemoteItem]] {
        let path = LockFile.path(forJob: jobPath)
        guard FileManager.default.fileExists(atPath: path) else {
            throw ExecutionError("no lock file \(path); write one with `flowctl lock \(jobPath)`")
        }
        let lock = try LockWriter.read(path)
        let used = Set(job.actions.compactMap { action -> String? in
            if case .selection(let name)? = action.input { return name } else { return nil }
        })
        for name in used.sorted() where lock.selections[name] == nil {
            throw ExecutionError("selection `\(name)` is not in \(path); refresh it with `flowctl lock --update \(jobPath)`")
        }
        if let sha = try? Data(contentsOf: URL(fileURLWithPath: jobPath)), lock.job.sha256 != FileDigest.sha256([UInt8](sha)) {
            if strictJob {
                throw ExecutionError("\(jobPath) changed since \(path) was written (its sha256 differs from the lock's); "
                    + "shards need the job the lock was made from: `flowctl lock --update \(jobPath)`, then submit again")
            }
            Console.error("warning: \(jobPath) changed since \(path) was written; items come from the lock")
        }
        return lock.items
    }

    /// The lock next to the job, when there is one.
    func existingLock() -> LockFile? {
        let path = LockFile.path(forJob: jobPath)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do { return try LockWriter.read(path) } catch {
            // Silently none: `plan` showed no drift against a lock it could not read.
            Console.error("warning: \(error); the drift against it is not shown")
            return nil
        }
    }
}

/// Makes the connector of a source type (the one place that knows every connector).
public enum ConnectorFactory {
    public static func make(_ spec: SourceSpec) throws -> any Connector {
        switch spec.type {
        case .local:
            return LocalConnector(spec: spec)
        case .grandChallenge:
            return try GrandChallengeConnector(spec: spec)
        case .agora:
            return try AgoraConnector(spec: spec)
        case .xnat:
            return try XNATConnector(spec: spec)
        case .loris:
            return try LORISConnector(spec: spec)
        case .http:
            return try WebFolderConnector(spec: spec)
        }
    }
}

/// A line for a request retried while listing, before the progress display exists: at most one
/// every `interval` seconds (a 503 storm on a thousand requests is one line, not a thousand).
final class RetryNotice: @unchecked Sendable {
    private let lock = NSLock()
    private var lastLine: Double?
    private var unsaid = 0
    private let interval: Double
    private let clock: @Sendable () -> Double
    private let write: @Sendable (String) -> Void

    init(interval: Double = 5, clock: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime },
         write: @escaping @Sendable (String) -> Void) {
        self.interval = interval
        self.clock = clock
        self.write = write
    }

    func retrying(in seconds: Double, because reason: String) {
        let now = clock()
        let others: Int? = lock.withLock {
            if let lastLine, now - lastLine < interval { unsaid += 1; return nil }
            lastLine = now
            defer { unsaid = 0 }
            return unsaid
        }
        guard let others else { return }
        let more = others > 0 ? " (and \(others) other request(s) retried since the last line)" : ""
        write("retrying in \(String(format: "%.1f", seconds)) s: \(ErrorText.clean(reason))\(more)")
    }
}
