import FlowFiles
import ArgumentParser
import Foundation
import FlowConnector
import FlowExecutor
import FlowModel

struct Lock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pin the exact remote items of every selection, with sizes and checksums, in <job>.lock.json.",
        discussion: """
            Commit the lock file next to the job: `flowctl run --locked` then fetches exactly that \
            set, verifying every checksum, and `flowctl plan` shows drift. sha256 is always \
            recorded: from the journal when the file was already downloaded unchanged, else by \
            streaming the item once (nothing is kept).

              flowctl lock jobs/xnat-dwi.yml              writes jobs/xnat-dwi.lock.json
              flowctl plan jobs/xnat-dwi.yml              shows drift from the lock
              flowctl lock --update jobs/xnat-dwi.yml     accepts it
            """)

    @OptionGroup var options: JobOptions

    @Flag(help: "Replace an existing lock file with what the remote holds now.")
    var update = false

    @Option(help: "Items hashed at once when sha256 must be computed by streaming.")
    var jobs: Int = 8

    func run() async throws {
        let session = try JobSession.open(options)
        let lockPath = LockFile.path(forJob: options.job)
        if FileManager.default.fileExists(atPath: lockPath) && !update {
            Console.error("\(lockPath) exists; `flowctl plan \(options.job)` shows drift, `flowctl lock --update` refreshes it")
            throw ExitCode(1)
        }
        do {
            let listed = try await session.resolve()
            // A lock pins the whole remote: one with holes would reproduce a different pull.
            guard listed.problems.isEmpty else {
                for error in listed.errors { Console.error("error: \(error)") }
                Console.error("no lock written: \(listed.errors.count) part(s) of the listing could not be read")
                throw ExitCode(1)
            }
            let lock = try await LockWriter(session: session, jobs: jobs).lock(listed: listed.items)
            try LockWriter.write(lock, to: lockPath)
            let count = lock.selections.values.reduce(0) { $0 + $1.items.count }
            Console.error("wrote \(lockPath): \(count) item(s) in \(lock.selections.count) selection(s)")
        } catch let exit as ExitCode {
            throw exit
        } catch {
            Console.error("error: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Builds lock files: identities of the sources, every item with its checksums and sha256.
struct LockWriter {
    let session: JobSession
    let jobs: Int

    func lock(listed: [String: [RemoteItem]]) async throws -> LockFile {
        let known = knownSHA256()
        var selections: [String: LockFile.LockedSelection] = [:]
        for selection in session.job.selections {
            guard let items = listed[selection.name], let connector = session.connectors[selection.source] else { continue }
            let hashed = try await withSHA256(items, known: known, connector: connector)
            selections[selection.name] = .init(source: selection.source, items: hashed.map(LockFile.LockedItem.init))
        }
        var sources: [String: LockFile.LockedSource] = [:]
        for spec in session.job.sources {
            let identity = (try? await session.connectors[spec.name]?.identity()) ?? ["url": spec.url]
            sources[spec.name] = .init(type: spec.type.rawValue, identity: identity)
        }
        let jobSHA = try await FileDigest.compute(path: session.jobPath)[.sha256] ?? ""
        return LockFile(flowctlVersion: Flowctl.version, job: .init(name: session.job.name, sha256: jobSHA),
                        sources: sources, selections: selections)
    }

    /// What the journal knows of a downloaded file, by remote id.
    struct Known {
        var sha256: String
        var serverChecksum: String?
        var size: Int64?
        var version: String?
    }

    /// sha256 by remote id from the journal, for files downloaded unchanged since.
    func knownSHA256() -> [String: Known] {
        guard let records = try? JournalSet.records(forRoot: session.stateRoot) else { return [:] }
        var known: [String: Known] = [:]
        for record in records.values where record.state == .done && record.kind == TaskKind.download.rawValue {
            if let id = record.remoteID, let sha = record.sha256 {
                known[id] = Known(sha256: sha, serverChecksum: record.serverChecksum, size: record.size, version: record.remoteVersion)
            }
        }
        return known
    }

    /// Whether the journal's file is the listed item: whatever the listing tells of it (size,
    /// server digest, version) agrees. A listing that tells nothing (LORIS gives neither size nor
    /// digest) leaves the remote id: the file downloaded under it is taken as the item.
    static func matches(_ item: RemoteItem, _ known: Known) -> Bool {
        (item.size == nil || item.size == known.size)
            && (known.serverChecksum == nil || item.checksums.contains { "\($0.algorithm.rawValue):\($0.value)" == known.serverChecksum })
            && (item.version == nil || known.version == nil || item.version == known.version)
    }

    /// The items with their sha256 and size: from the journal when the file was downloaded
    /// unchanged, else by streaming it once. Every locked item has both.
    func withSHA256(_ items: [RemoteItem], known: [String: Known], connector: any Connector) async throws -> [RemoteItem] {
        var result = items
        var toHash: [Int] = []
        for (i, item) in items.enumerated() where item.checksum(.sha256) == nil || item.size == nil {
            if let k = known[item.id], Self.matches(item, k), item.checksum(.sha256) == nil || item.checksum(.sha256) == k.sha256 {
                if item.checksum(.sha256) == nil { result[i].checksums.append(Checksum(.sha256, k.sha256)) }
                if result[i].size == nil { result[i].size = k.size }
            } else {
                toHash.append(i)
            }
        }
        guard !toHash.isEmpty else { return result }
        Console.error("lock: hashing \(toHash.count) item(s) not downloaded before (streamed, not kept)")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("flowctl-lock-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var next = 0
        while next < toHash.count {
            let batch = Array(toHash[next..<min(next + jobs, toHash.count)])
            next += batch.count
            let hashes = try await withThrowingTaskGroup(of: (Int, String, Int64).self) { group in
                for i in batch {
                    group.addTask {
                        let part = scratch + "/\(i).part"
                        defer { unlink(part) }
                        let fetched = try await connector.session(retrying: items[i]) { try await connector.fetch(items[i], to: part, resume: false, progress: nil) }
                        guard let sha = fetched.checksum(.sha256) else { throw ExecutionError("no sha256 for \(items[i].id)") }
                        return (i, sha, fetched.fileSize)
                    }
                }
                return try await group.reduce(into: [(Int, String, Int64)]()) { $0.append($1) }
            }
            for (i, sha, size) in hashes {
                if result[i].checksum(.sha256) == nil { result[i].checksums.append(Checksum(.sha256, sha)) }
                if result[i].size == nil { result[i].size = size }
            }
        }
        return result
    }

    static func write(_ lock: LockFile, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // A lock file is what `git add` takes next: flushed before its rename.
        try FileSync.replace(path, with: Array(try encoder.encode(lock)) + Array("\n".utf8), fsync: true)
    }

    static func read(_ path: String) throws -> LockFile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            let code = ((error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError)?.code
            throw ExecutionError("cannot read lock file \(path): \(code.map { String(cString: strerror(Int32($0))) } ?? "unreadable")")
        }
        do {
            return try JSONDecoder().decode(LockFile.self, from: data)
        } catch {
            // A lock edited by hand (or a merge conflict in it): say where, and the two ways back.
            let what = (error as? DecodingError).map(SourceSession.describe) ?? "not readable"
            throw ExecutionError("lock file \(path) is damaged: \(what); restore it from git "
                + "(`git checkout -- \(path)`), or pin the remote again with `flowctl lock --update`")
        }
    }
}

extension Connector {
    /// Retries one operation by the source's retry policy (transient failures only).
    func session(retrying item: RemoteItem, _ operation: @Sendable () async throws -> FetchResult) async throws -> FetchResult {
        let policy = RetryPolicy(spec.retry)
        var attempt = 0
        while true {
            attempt += 1
            do { return try await operation() } catch let error as ConnectorError {
                guard case .retry(let delay) = policy.decide(attempt: attempt, elapsed: 0, failure: error.retryFailure,
                                                             retryAfter: error.retryAfter, alreadyReauthenticated: true,
                                                             jitter: Double.random(in: 0..<1)) else { throw error }
                try await Task.sleep(for: .seconds(delay))
            }
        }
    }
}

extension Verify {
    /// Why a folder's manifest cannot be read, in words: no such folder, no manifest (not an
    /// output folder, or a run that has not finished), or a damaged one.
    static func unreadable(directory: String, error: any Error) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            return "no such folder \(directory)"
        }
        guard isDirectory.boolValue else { return "\(directory) is a file; give the output folder (a download's `to:`)" }
        let path = (directory as NSString).appendingPathComponent(Manifest.fileName)
        guard FileManager.default.fileExists(atPath: path) else {
            return "no \(Manifest.fileName) in \(directory): give the output folder of a job (a download's `to:`); "
                + "`flowctl run` writes the manifest there when it ends"
        }
        let what = (error as? DecodingError).map(SourceSession.describe) ?? "not readable"
        return "\(path) is damaged: \(what); `flowctl run` of its job writes it again"
    }
}

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-hash an output folder against its flowctl-manifest.json: missing, changed and extra files.",
        discussion: """
            Exit status 0 when every file matches, 1 otherwise.

              flowctl verify out/xnat-dwi
              flowctl verify out/xnat-dwi --format json
            """)

    @Argument(help: "An output folder (a download's `to:`).", completion: .directory)
    var directory: String

    @Option(help: "Output format: text or json.")
    var format: ReportFormat = .text

    func run() async throws {
        let manifest: Manifest
        do { manifest = try Manifest.read(from: directory) } catch {
            Console.error("error: " + Self.unreadable(directory: directory, error: error))
            // Shards leave the manifest to the gather step, which merges their journals.
            if JournalSet.paths(forRoot: directory).contains(where: { JournalSet.shard(ofPath: $0) != nil }) {
                Console.error("the folder holds shards' journals: `flowctl gather JOB` writes the manifest of them all")
            }
            throw ExitCode(1)
        }
        let report = try await Verifier.verify(root: directory, manifest: manifest)
        if format == .json {
            let object: [String: Any] = ["format_version": 1, "verified": report.verified, "missing": report.missing,
                                         "changed": report.changed, "extra": report.extra, "clean": report.isClean]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            Console.out(String(decoding: data, as: UTF8.self))
        } else {
            for path in report.missing { Console.out("missing  \(path)") }
            for path in report.changed { Console.out("changed  \(path)") }
            for path in report.extra { Console.out("extra    \(path)") }
            Console.out("\(report.verified) verified, \(report.missing.count) missing, \(report.changed.count) changed, "
                        + "\(report.extra.count) extra (job `\(manifest.job)`)")
        }
        if !report.isClean { throw ExitCode(1) }
    }
}

