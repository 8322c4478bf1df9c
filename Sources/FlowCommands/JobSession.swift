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

    /// Loads and checks the job (printing diagnostics), and connects its sources.
    static func open(_ options: JobOptions) throws -> JobSession {
        let result = JobLoader(overrides: options.overrides).load(path: options.job)
        if !result.diagnostics.isEmpty { Console.error(result.rendered()) }
        guard let job = result.job else { throw ExitCode(1) }
        let base = URL(fileURLWithPath: options.job).deletingLastPathComponent().standardizedFileURL.path
        var connectors: [String: any Connector] = [:]
        for spec in job.sources {
            do {
                connectors[spec.name] = try ConnectorFactory.make(resolvingPaths(of: spec, against: base))
            } catch {
                Console.error("\(options.job): source `\(spec.name)`: \(error)")
                throw ExitCode(1)
            }
        }
        return JobSession(job: job, jobPath: options.job, baseDirectory: base, connectors: connectors)
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

    /// Where the journal lives: the first download's output folder, else the job file's folder.
    var stateRoot: String {
        let planner = Planner(baseDirectory: baseDirectory)
        if let download = job.actions.first(where: { $0.kind == .download }) { return planner.root(of: download) }
        return baseDirectory + "/.flowctl-" + job.name
    }

    /// What is already done: the journal when there is one (read-only), else the files on disk.
    func completedWork() -> any CompletedWork {
        let path = Journal.path(forRoot: stateRoot)
        guard let records = try? Journal.existingRecords(at: path) else { return FilesOnDisk() }
        return JournalState(records: records)
    }

    /// Lists every selection the actions use (with what could not be listed).
    func resolve() async throws -> Resolver.Resolution {
        try await Resolver(connectors: connectors).resolve(job)
    }

    /// The items of the lock file, or a listing: what `run` and `plan` work from.
    func items(locked: Bool) async throws -> Resolver.Resolution {
        locked ? Resolver.Resolution(items: try lockedItems()) : try await resolve()
    }

    /// The items of the lock file instead of a listing (no listing request is made).
    func lockedItems() throws -> [String: [RemoteItem]] {
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
            Console.error("warning: \(jobPath) changed since \(path) was written; items come from the lock")
        }
        return lock.items
    }

    /// The lock next to the job, when there is one.
    func existingLock() -> LockFile? {
        let path = LockFile.path(forJob: jobPath)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? LockWriter.read(path)
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
