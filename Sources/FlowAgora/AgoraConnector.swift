import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Connector for GyroTools Agora's REST API (`api/agora.md`): lists datafiles of exams, series and
/// datasets, downloads them with SHA-1 checks, uploads through the import protocol, tags objects and
/// runs tasks. Every request goes through one `SourceSession` (limits, retries).
public struct AgoraConnector: Connector {
    public let spec: SourceSpec
    let session: SourceSession
    public var taskExecutors: [any TaskExecutor] { session.http.taskExecutors }
    let state: AgoraState
    /// Bytes per upload chunk: Agora's clients send 100 MiB (tests make it smaller).
    let chunkSize: Int64

    /// Builds the connector; needs `api-key` (sent as `Authorization: X-Agora-Api-Key <key>`).
    public init(spec: SourceSpec) throws {
        try self.init(spec: spec, chunkSize: spec.options["part-size"].flatMap { Int64($0) } ?? 100 * 1024 * 1024)
    }

    /// As `init(spec:)`, with another upload chunk size (tests exercise multi-chunk uploads with small files).
    public init(spec: SourceSpec, chunkSize: Int64) throws {
        try spec.requireWebURL("Agora")
        guard let origin = Self.origin(of: spec.url) else {
            throw ConnectorError.unsupported("Agora source `\(spec.name)` has no host in its URL \(ErrorText.quoted(URLText.redacted(spec.url)))")
        }
        guard let key = spec.credentials["api-key"]?.revealed, !key.isEmpty else {
            let hint = spec.credentials["password"] != nil ? " (password login is not supported: create an API key in your Agora profile)" : ""
            throw ConnectorError.authentication("Agora source `\(spec.name)` needs `api-key`\(hint)")
        }
        self.spec = spec
        // Agora lives at the server root: like gtagora-connector, any path in the URL is dropped.
        var rooted = spec
        rooted.url = origin
        session = try SourceSession(spec: rooted, auth: AgoraAPIKey(header: "X-Agora-Api-Key " + key))
        state = AgoraState()
        self.chunkSize = max(1, chunkSize)
    }

    /// `scheme://host[:port]` of a URL, or nil when it is not http(s).
    static func origin(of url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty else { return nil }
        let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return "\(scheme)://\(h)" + (components.port.map { ":\($0)" } ?? "")
    }

    // MARK: identity

    /// Server URL, version and user (`/api/v1/version/`, `/api/v1/user/current/`).
    public func identity() async throws -> [String: String] {
        let version = try await session.agoraJSON("/api/v1/version/")
        let user = try await session.agoraJSON("/api/v1/user/current/")
        guard user["institution"] != nil else {
            throw ConnectorError.badReply("/api/v1/user/current/ has no `institution`: not an Agora server?")
        }
        var out = ["type": "agora", "url": session.spec.url]
        if let v = version["version"]?.text { out["version"] = v }
        if let u = user["username"]?.text { out["user"] = u }
        return out
    }

    // MARK: fetch

    /// Downloads a datafile (`GET /api/v1/datafile/{id}/download/`) and checks its size and SHA-1.
    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await session.fetch(item, to: partPath, resume: resume, unnamed: unnamed, progress: progress)
    }

    // MARK: items

    /// One datafile as an item; `context` holds the fields of the levels above (project, exam...).
    func item(datafile f: JSONValue, dataset: JSONValue, context: [String: String]) throws -> RemoteItem {
        guard let id = f["id"]?.int, let datasetID = dataset["id"]?.int else {
            throw ConnectorError.badReply("a dataset or datafile has no id")
        }
        let name = f["original_filename"]?.text ?? f["relative_path"]?.text.map { String($0.split(separator: "/").last ?? "") } ?? "datafile-\(id)"
        var fields = context
        fields["dataset.id"] = String(datasetID)
        fields["dataset.name"] = dataset["name"]?.text ?? ""
        fields["dataset.type"] = dataset["type"]?.int.map(AgoraTypes.name(of:)) ?? ""
        fields["file.name"] = name
        fields["file.id"] = String(id)
        let size = f["size"]?.int.map(Int64.init)
        if let size { fields["file.size"] = String(size) }
        let sha1 = (f["sha1"]?.text ?? "").lowercased()
        let isSHA1 = sha1.count == 40 && sha1.allSatisfy(\.isHexDigit)
        // The owner chain makes the id readable in plans; the datafile id makes it unique.
        var owner = ""
        if let e = context["exam.id"] { owner += "exams/\(e)/" }
        if let s = context["series.id"] { owner += "series/\(s)/" }
        if owner.isEmpty, let folder = context["folder.id"] { owner = "folders/\(folder)/" }
        return RemoteItem(source: spec.name, id: "\(owner)datasets/\(datasetID)/files/\(id)",
                          url: session.url("/api/v1/datafile/\(id)/download/"), size: size,
                          checksums: isSHA1 ? [Checksum(.sha1, sha1)] : [], version: isSHA1 ? sha1 : nil, fields: fields)
    }
}

/// Adds the API key to every request; a 401 cannot be cured by logging in again.
struct AgoraAPIKey: Authenticator {
    let header: String
    func authorize(_ request: inout HTTPRequest) async throws {
        request.headers.replaceOrAdd(name: "Authorization", value: header)
    }
    func refresh() async throws {}
}

/// Agora's dataset type numbers and their names (`DatasetType` of gtagora-connector).
public enum AgoraTypes {
    public static let datasetTypes: [String: Int] = [
        "NONE": 0, "PHILIPS_RAW": 100, "PHILIPS_PARREC": 101, "PHILIPS_SPECTRO": 102, "PHILIPS_EXAMCARD": 103,
        "PHILIPS_SINFILE": 104, "BRUKER_RAW": 200, "BRUKER_SUBJECT": 201, "BRUKER_IMAGE": 202, "DICOM": 300,
        "SIEMENS_RAW": 400, "SIEMENS_PRO": 401, "ISMRMRD": 500, "NIFTI1": 600, "NIFTI2": 601, "NIFTI_ANALYZE75": 602,
        "JMRUI_SPECTRO": 700, "AEX": 800, "QUERY": 10000, "OTHER": 100000,
    ]
    private static let names = Dictionary(uniqueKeysWithValues: datasetTypes.map { ($1, $0) })

    /// `PHILIPS_RAW` for 100; the number itself for a type this table does not know.
    public static func name(of type: Int) -> String { names[type] ?? String(type) }

    /// The number of a type name (case-insensitive) or of a number written as text.
    public static func number(of name: String) -> Int? { datasetTypes[name.uppercased()] ?? Int(name) }
}

/// What one connector remembers between calls: folders and tags it made (so concurrent
/// uploads and tags create each once), task definitions, runs per input object, and import
/// packages to resume.
final class AgoraState: Sendable {
    let folders = Once<Int>()
    let tags = Once<Int>()
    let tasks = Once<JSONValue>()
    let runs = Once<RemoteRun>()
    let pendingUploads = PendingUploads()
    /// The run's journal, for import packages to resume after a kill.
    let resume = UploadResumeSlot()
    let projects = Once<[String: String]>()
    /// Upload folders' datafiles, listed once per run.
    let folderFiles = ListedTargets<RemoteItem>()
    /// The run's announced uploads, in packages, and the packages sent.
    let batches = AgoraBatches()
    let packages = Once<[String: Result<UploadOutcome, any Error>]>()
}

/// The files a run announced per target (`project|folder`), cut into import packages of at most
/// `maxFiles` files and `maxBytes` bytes, in the order the run will upload them.
actor AgoraBatches {
    private var packages: [String: [[LocalFile]]] = [:]
    private var positions: [String: [LocalFile: Int]] = [:]

    func plan(_ files: [LocalFile], key: String, maxFiles: Int, maxBytes: Int64) {
        var cut: [[LocalFile]] = []
        var current: [LocalFile] = []
        var bytes: Int64 = 0
        for file in files {
            if !current.isEmpty && (current.count >= maxFiles || bytes + file.size > maxBytes) {
                cut.append(current)
                current = []
                bytes = 0
            }
            current.append(file)
            bytes += file.size
        }
        if !current.isEmpty { cut.append(current) }
        packages[key] = cut
        var index: [LocalFile: Int] = [:]
        for (i, package) in cut.enumerated() { for file in package { index[file] = i } }
        positions[key] = index
    }

    /// The files of package `index` of a target, if it has one.
    func files(of index: Int, key: String) -> [LocalFile]? {
        guard let cut = packages[key], cut.indices.contains(index) else { return nil }
        return cut[index]
    }

    /// The package `file` was planned in (its index and files), if any.
    func package(of file: LocalFile, key: String) -> (Int, [LocalFile])? {
        guard let i = positions[key]?[file], let cut = packages[key] else { return nil }
        return (i, cut[i])
    }
}

/// Runs a piece of work once per key; concurrent and later callers share its result. A failure
/// is forgotten, so the next caller tries again.
actor Once<T: Sendable> {
    private var table: [String: Task<T, any Error>] = [:]

    func value(_ key: String, _ make: @escaping @Sendable () async throws -> T) async throws -> T {
        if let existing = table[key] { return try await existing.value }
        let task = Task { try await make() }
        table[key] = task
        do {
            return try await task.value
        } catch {
            table[key] = nil
            throw error
        }
    }
}

/// An import package whose upload did not complete: where a retry continues.
struct PendingUpload: Sendable {
    var package: Int
    var identifier: String
}

actor PendingUploads {
    private var table: [String: PendingUpload] = [:]
    func get(_ key: String) -> PendingUpload? { table[key] }
    func set(_ key: String, _ value: PendingUpload?) { table[key] = value }
}
