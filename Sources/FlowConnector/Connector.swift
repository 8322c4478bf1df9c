import FlowFiles
import FlowHTTP
import FlowModel

/// What every platform connector does. One instance per source of a job; shared by listing
/// and execution. Operations a platform lacks keep the default, which throws `.unsupported`.
public protocol Connector: Sendable {
    /// The source this connector talks to.
    var spec: SourceSpec { get }

    /// Lists the items (files) a selection matches, with their template fields.
    func list(_ selection: Selection) async throws -> [RemoteItem]

    /// Fetches an item's bytes into `partPath` (resuming an existing prefix when `resume`).
    /// `unnamed`: the bytes may go to an unnamed file in `partPath`'s folder instead
    /// (`FetchResult.unnamedFile`), for small files; connectors that cannot ignore it.
    func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
               progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult

    /// An extra document of an item (`qc`, `visit-metadata`), as bytes to store beside it.
    func extra(_ name: String, of item: RemoteItem) async throws -> [UInt8]

    /// Sends one local file to `destination` fields (`project`, `resource`, `folder`...);
    /// returns the remote item it became. Must be idempotent: an identical remote file is kept.
    func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome

    /// The files a run will send to `destination` (those not done yet, in the order it will
    /// start them), said before their first `upload`: a connector may send them together (one
    /// Agora import package for many files). Each file is still uploaded by its own `upload`.
    func plannedUploads(_ files: [LocalFile], into destination: [String: String]) async

    /// Where this run's uploads keep what they need to go on after a kill (the run's journal).
    func resumeUploads(in store: any UploadResumeStore)

    /// Sets tags on an item's remote object.
    func tag(_ item: RemoteItem, with tags: [String]) async throws

    /// Starts a remote algorithm job / task on one input item.
    func startRun(_ target: String, input: RemoteItem, inputName: String?) async throws -> RemoteRun

    /// Looks at a started run once.
    func poll(_ run: RemoteRun) async throws -> RunStatus

    /// Who the server is (URL, version), for lock files and provenance.
    func identity() async throws -> [String: String]

    /// Archive transfers: streams the one archive (`format`: `zip`, `tar.gz`) that holds `items`
    /// (the files of one scan, resource or session), handing its bytes to `consume` as they
    /// arrive; returns the bytes received.
    func streamArchive(of items: [RemoteItem], format: String, maxBytes: Int64,
                       consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> Int64

    /// The key a listed item has among an archive's members (see `archiveKeys(ofMember:)`).
    func archiveKey(of item: RemoteItem) -> String?

    /// The keys an archive member's name could stand for: a member is a listed item when one of
    /// them is that item's `archiveKey`.
    func archiveKeys(ofMember name: String) -> [String]

    /// Where tasks that mostly talk to this source run best: its HTTP client's curl threads
    /// (none for a connector without one).
    var taskExecutors: [any TaskExecutor] { get }
}

extension Connector {
    public var taskExecutors: [any TaskExecutor] { [] }

    /// Fetches into `partPath` itself, never into an unnamed file.
    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await fetch(item, to: partPath, resume: resume, unnamed: false, progress: progress)
    }

    public func extra(_ name: String, of item: RemoteItem) async throws -> [UInt8] {
        throw ConnectorError.unsupported("\(spec.type.rawValue) has no `\(name)` extra")
    }
    public func upload(_ file: LocalFile, into destination: [String: String], overwrite: Bool) async throws -> UploadOutcome {
        throw ConnectorError.unsupported("upload to \(spec.type.rawValue)")
    }
    public func plannedUploads(_ files: [LocalFile], into destination: [String: String]) async {}
    public func resumeUploads(in store: any UploadResumeStore) {}
    public func tag(_ item: RemoteItem, with tags: [String]) async throws {
        throw ConnectorError.unsupported("tag on \(spec.type.rawValue)")
    }
    public func startRun(_ target: String, input: RemoteItem, inputName: String?) async throws -> RemoteRun {
        throw ConnectorError.unsupported("runs on \(spec.type.rawValue)")
    }
    public func poll(_ run: RemoteRun) async throws -> RunStatus {
        throw ConnectorError.unsupported("runs on \(spec.type.rawValue)")
    }
    public func identity() async throws -> [String: String] {
        ["type": spec.type.rawValue, "url": spec.url]
    }
    public func streamArchive(of items: [RemoteItem], format: String, maxBytes: Int64,
                              consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> Int64 {
        throw ConnectorError.unsupported("archive transfers from \(spec.type.rawValue)")
    }
    public func archiveKey(of item: RemoteItem) -> String? { nil }
    public func archiveKeys(ofMember name: String) -> [String] { [] }
}

/// What a fetch wrote.
public struct FetchResult: Sendable {
    /// Bytes this attempt transferred.
    public var bytesTransferred: Int64
    /// Size of the `.part` file now.
    public var fileSize: Int64
    /// Digests of the whole file (sha256 always).
    public var checksums: [Checksum]
    /// The server's current version of the item (ETag), when it says.
    public var version: String?
    public var resumed: Bool
    /// The bytes are in this unnamed file, not in the `.part` file (see `Connector.fetch`).
    public var unnamedFile: UnnamedFile?

    public init(bytesTransferred: Int64, fileSize: Int64, checksums: [Checksum], version: String? = nil, resumed: Bool = false,
                unnamedFile: UnnamedFile? = nil) {
        self.bytesTransferred = bytesTransferred
        self.fileSize = fileSize
        self.checksums = checksums
        self.version = version
        self.resumed = resumed
        self.unnamedFile = unnamedFile
    }

    public func checksum(_ algorithm: ChecksumAlgorithm) -> String? {
        checksums.first { $0.algorithm == algorithm }?.value
    }
}

/// A local file to upload.
public struct LocalFile: Sendable, Hashable {
    public var path: String
    /// Path relative to the selection's folder (kept as the remote relative path).
    public var relativePath: String
    public var size: Int64
    public var sha256: String?

    public init(path: String, relativePath: String, size: Int64, sha256: String? = nil) {
        self.path = path
        self.relativePath = relativePath
        self.size = size
        self.sha256 = sha256
    }
}

/// The result of an upload: the remote item, and whether bytes were actually sent.
public struct UploadOutcome: Sendable {
    public var item: RemoteItem
    /// False when an identical remote file was already there.
    public var transferred: Bool
    public init(item: RemoteItem, transferred: Bool) {
        self.item = item
        self.transferred = transferred
    }
}

/// A started remote job or task.
public struct RemoteRun: Sendable, Hashable, Codable {
    public var id: String
    /// Where to poll it.
    public var url: String
    public var input: RemoteItem
    public init(id: String, url: String, input: RemoteItem) {
        self.id = id
        self.url = url
        self.input = input
    }
}

/// What a poll saw.
public enum RunStatus: Sendable {
    case running(String)
    case succeeded(outputs: [RemoteItem])
    case failed(String)
}

/// Why a connector operation failed; `isTransient` tells the executor whether to retry.
public enum ConnectorError: Error, Sendable, CustomStringConvertible {
    /// The server answered an HTTP status that is an error.
    case status(Int, url: String, message: String, retryAfter: Double?)
    /// The transport failed (connect, reset, timeout, cut body...).
    case transport(HTTPError, url: String)
    /// Credentials were refused.
    case authentication(String)
    /// The server's reply did not make sense (odd JSON, hostile names, wrong size).
    case badReply(String)
    /// A downloaded file did not match its size or checksum.
    case integrity(String)
    /// An item no longer matches its lock file (changed or vanished upstream). Never retried.
    case changedUpstream(String)
    /// The platform or this connector cannot do it.
    case unsupported(String)
    /// Local problem (disk full, permissions).
    case local(String)

    public var isTransient: Bool {
        switch self {
        case .status(let code, _, _, _): return RetryPolicy.isRetryable(status: code)
        case .transport(let error, _): return error.isTransient
        case .integrity: return true
        default: return false
        }
    }

    /// The failure in the retry policy's terms.
    public var retryFailure: RetryPolicy.Failure {
        switch self {
        case .status(let code, _, _, _): return .status(code)
        case .transport(let error, _):
            if case .timedOut = error { return .timeout }
            if case .stalled = error { return .timeout }
            return error.isTransient ? .transport : .permanent
        case .integrity: return .integrity
        case .authentication: return .status(401)
        default: return .permanent
        }
    }

    public var retryAfter: Double? {
        if case .status(_, _, _, let after) = self { return after }
        return nil
    }

    public var description: String {
        switch self {
        case .status(let code, let url, let message, _):
            return "HTTP \(code) from \(URLText.redacted(url))" + (message.isEmpty ? "" : ": \(message)")
        case .transport(let error, let url): return "\(error) (\(URLText.redacted(url)))"
        case .authentication(let m): return "authentication failed: \(m)"
        case .badReply(let m): return "unexpected reply: \(m)"
        case .integrity(let m): return "integrity check failed: \(m)"
        case .changedUpstream(let m): return "changed upstream since the lock: \(m)"
        case .unsupported(let m): return "not supported: \(m)"
        case .local(let m): return m
        }
    }
}

extension SourceSpec {
    /// Refuses a source whose URL is not http(s): the one check every web platform's connector
    /// makes before anything else (`platform` names it in the message).
    public func requireWebURL(_ platform: String) throws {
        let lower = url.prefix(8).lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw ConnectorError.unsupported("\(platform) source `\(name)` needs an http(s) URL, got \(ErrorText.quoted(URLText.redacted(url)))")
        }
    }
}

/// URL helpers that keep credentials out of messages.
public enum URLText {
    /// The URL without `user:password@` and without a query (which may carry tokens).
    public static func redacted(_ url: String) -> String {
        var text = url
        if let userinfo = URLCredentials.range(in: text) { text.removeSubrange(userinfo) }
        if let q = text.firstIndex(of: "?") { text = String(text[..<q]) }
        return text
    }

    /// Joins a base URL and a path with exactly one slash.
    public static func join(_ base: String, _ path: String) -> String {
        if path.hasPrefix("http://") || path.hasPrefix("https://") { return path }
        let b = base.hasSuffix("/") ? String(base.dropLast()) : base
        return path.hasPrefix("/") ? b + path : b + "/" + path
    }

    /// Percent-encodes one path segment: every byte but RFC 3986's unreserved ones.
    public static func segment(_ text: String) -> String {
        let utf8 = text.utf8
        if utf8.allSatisfy(isUnreserved) { return text }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count * 3)
        for byte in utf8 {
            if isUnreserved(byte) { out.append(byte); continue }
            out += [UInt8(ascii: "%"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-encodes each segment of a `/`-separated path with no empty segments; the path
    /// itself when nothing needs encoding (no array of segments made).
    public static func path(_ path: String) -> String {
        if path.utf8.allSatisfy({ $0 == UInt8(ascii: "/") || isUnreserved($0) }) { return path }
        return path.utf8.split(separator: UInt8(ascii: "/")).map { segment(String(Substring($0))) }.joined(separator: "/")
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// Percent-encodes a query value.
    public static func query(_ text: String) -> String { segment(text) }
}
