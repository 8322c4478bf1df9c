import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// Connector for grand-challenge.org's REST API (`/api/v1/`): lists archive and reader-study
/// images, downloads their files, uploads local files as new cases (user uploads in parts), and
/// runs algorithm jobs. Every request goes through one `SourceSession` (limits, retries, 429).
public struct GrandChallengeConnector: Connector {
    public let spec: SourceSpec
    let session: SourceSession
    public var taskExecutors: [any TaskExecutor] { session.http.taskExecutors }
    /// The API root, ending in `/api/v1/`.
    let base: String
    /// Bytes per upload part (grand-challenge.org's client uses 32 MiB).
    let partSize: Int64
    /// The run's journal, for uploads to resume after a kill.
    let resume = UploadResumeSlot()

    /// Builds the connector from a source with `url` (the site or its `/api/v1/`) and `token`
    /// (a personal API token; `Bearer x` and `Token x` are accepted like gcapi does).
    public init(spec: SourceSpec) throws {
        let size = spec.options["part-size"].flatMap { Int64($0) } ?? 32 << 20
        try self.init(spec: spec, partSize: size)
    }

    /// As `init(spec:)`, with the upload part size given (tests use small parts).
    public init(spec: SourceSpec, partSize: Int64) throws {
        try spec.requireWebURL("Grand Challenge")
        guard let raw = spec.credentials["token"]?.revealed, let token = raw.split(separator: " ").last.map(String.init), !token.isEmpty else {
            throw ConnectorError.authentication("Grand Challenge source `\(spec.name)` needs a `token` (a personal API token)")
        }
        guard partSize > 0 else { throw ConnectorError.unsupported("part-size must be positive") }
        self.spec = spec
        self.base = Self.apiRoot(spec.url)
        self.partSize = partSize
        self.session = try SourceSession(spec: spec, auth: BearerToken(token: token, origin: Self.origin(of: base)))
    }

    /// `https://host` -> `https://host/api/v1/`; a URL already naming `/api/v1` keeps it, with one trailing slash.
    static func apiRoot(_ url: String) -> String {
        var u = url
        while u.hasSuffix("/") { u.removeLast() }
        if !u.hasSuffix("/api/v1") { u += "/api/v1" }
        return u + "/"
    }

    /// `scheme://host:port` of a URL.
    static func origin(of url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let end = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        return String(url[..<end])
    }

    /// Absolute URL of an API path (`archives/`), with query items.
    func api(_ path: String, _ query: [(String, String)] = []) -> String {
        let q = query.map { "\($0.0)=\(URLText.query($0.1))" }.joined(separator: "&")
        return base + path + (q.isEmpty ? "" : "?" + q)
    }

    /// GET and decode one API URL.
    func get<T: Decodable>(_ type: T.Type, _ url: String) async throws -> T {
        let response = try await session.send(HTTPRequest(url: url, headers: ["Accept": "application/json"]))
        return try SourceSession.decode(type, response.body, from: URLText.redacted(url))
    }

    /// Sends a JSON body (`POST`/`PATCH`); returns the response (2xx, or a status in `accept`).
    func send(_ method: String, _ url: String, _ body: [String: Any]?, accept: Set<Int> = []) async throws -> HTTPResponse {
        var request = HTTPRequest(method: method, url: url, headers: ["Accept": "application/json"])
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(Array(try JSONSerialization.data(withJSONObject: body)))
        }
        return try await session.send(request, accept: accept)
    }

    /// Pages of one list fetched at once, and the most a list may have before flowctl stops
    /// asking (a server whose pages never end must not keep a run for ever).
    static let pagesAtOnce = 16, maxPages = 10_000

    /// Every result of a paginated list. The first page's `count` says how many more pages to
    /// fetch (a window at a time, concurrently), but it is only a hint: an empty page ends the
    /// list early (a `count` that says too much), and while pages come back full the next one is
    /// asked for (a `count` that says too little), as gcapi's `iterate_all` pages until an empty one.
    /// `next` is never followed, so it cannot send flowctl in circles or to another host.
    func all<T: Decodable & Sendable>(_ type: T.Type, _ path: String, _ query: [(String, String)] = []) async throws -> [T] {
        let limit = 100
        let url: @Sendable (Int) -> String = { offset in api(path, query + [("limit", String(limit)), ("offset", String(offset))]) }
        let first = try await get(Page<T>.self, url(0))
        var results = first.results
        let rest = max(0, first.count - first.results.count)
        var promised = first.results.isEmpty ? 0 : rest / limit + (rest % limit == 0 ? 0 : 1)
        var lastFull = first.results.count >= limit
        var offset = first.results.count
        var pages = 1
        while promised > 0 || lastFull {
            guard pages < Self.maxPages else {
                throw ConnectorError.badReply("\(URLText.redacted(url(0))) goes on past \(Self.maxPages) pages of \(limit) "
                                              + "(it says count \(first.count)); stopped there")
            }
            let window = min(max(1, promised), Self.pagesAtOnce, Self.maxPages - pages)
            let offsets = (0..<window).map { offset + $0 * limit }
            // A page that fails costs only its own results while a listing collects problems (it is absent here).
            let fetched = try await listEach(offsets) { at in [(at, try await get(Page<T>.self, url(at)).results)] }
            let byOffset = Dictionary(fetched, uniquingKeysWith: { a, _ in a })
            var ended = false
            for at in offsets {
                guard let page = byOffset[at] else { continue }
                results += page
                if page.isEmpty { ended = true; break }
            }
            if ended { break }
            lastFull = byOffset[offsets[offsets.count - 1]].map { $0.count >= limit } ?? false
            offset += window * limit
            promised = max(0, promised - window)
            pages += window
        }
        return results
    }

    // MARK: identity and fetch

    public func identity() async throws -> [String: String] {
        var out = ["type": "grand-challenge", "url": base]
        if let version = try? await get(APIVersion.self, api("gcapi/")) { out["gcapi.latest"] = version.latest_version }
        return out
    }

    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await session.fetch(item, to: partPath, resume: resume, unnamed: unnamed, progress: progress)
    }
}

/// Adds `Authorization: Bearer <token>` to requests for the API's own origin only: never to
/// another host, and never beside a presigned upload URL's signature (S3 refuses two auths).
struct BearerToken: Authenticator {
    let token: String
    let origin: String

    func authorize(_ request: inout HTTPRequest) async throws {
        guard GrandChallengeConnector.origin(of: request.url) == origin, !request.url.contains("X-Amz-Signature=") else { return }
        request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)")
    }

    /// Tokens do not expire by logging in again: a 401 means the token is wrong or revoked.
    func refresh() async throws {
        throw ConnectorError.authentication("Grand Challenge refused the token (401 Invalid token); check the source's `token`")
    }
}

/// Runs `body` on every element concurrently, results in input order (the session bounds requests in flight).
func concurrentMap<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> R) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, R).self) { group in
        for (index, item) in items.enumerated() { group.addTask { (index, try await body(item)) } }
        var results = [R?](repeating: nil, count: items.count)
        for try await (index, result) in group { results[index] = result }
        return results.map { $0! }
    }
}
