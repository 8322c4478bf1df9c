import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

extension PlatformID {
    /// Grand Challenge (grand-challenge.org).
    public static let grandChallenge = PlatformID("gc")
}

/// Emulator of grand-challenge.org's REST API (`/api/v1/`), see `api/grand-challenge.md`: archives,
/// images and their files, reader studies and display sets, user uploads in parts, and algorithm
/// jobs whose status moves on with time. HTTPS by default (gcapi refuses anything else).
///
/// Test hooks: `jobStepSeconds` (time per job status step), `failNextJobs`, `uploadQuotaBytes`,
/// and the same through `POST /_sandbox/items` mutations (see `mutate`). A job also fails when its
/// input image's name contains `fail`.
public final class GrandChallengeEmulator: PlatformEmulator {
    public static let id = PlatformID.grandChallenge
    public static let defaultTLS = true
    /// The one token the sandbox accepts.
    public static let token = "sandbox-gc-token"
    /// What `GET /api/v1/gcapi/` announces (grand-challenge.org's defaults).
    static let latestClientVersion = "0.13.2", lowestClientVersion = "0.13.0"

    let data: Mutex<GCData>
    let settings: Mutex<Settings>
    /// Hostile additions on (`SandboxConfiguration.hostile`; Hostile/README.md, "Grand Challenge").
    let hostile: Bool
    /// What reached the presigned part URLs (`GET /_sandbox/hostile/gc`).
    let storageRecord = Mutex(StorageRecord())

    struct StorageRecord {
        var puts = 0
        var withAuthorization = 0
        var hosts: Set<String> = []
    }

    struct Settings {
        var jobStepSeconds: Double = 1
        var failNextJobs = 0
        var uploadQuotaBytes: Int64? = nil
    }

    public init(context: PlatformContext) throws {
        let c = context.configuration
        var d = GCData(seed: context.platformSeed, archiveImages: c.scaled(10), sizes: c.fileSize)
        if c.hostile { d.addHostile() }
        data = Mutex(d)
        hostile = c.hostile
        settings = Mutex(Settings())
    }

    public var credentials: SandboxCredentials { SandboxCredentials(token: GrandChallengeEmulator.token) }

    /// `GET /_sandbox/hostile/gc`: the part PUTs received, how many carried `Authorization`, their hosts.
    public func control(method: HTTPRequest.Method, path: [String], query: [String: String]) -> Response? {
        guard method == .get, path == ["hostile", "gc"] else { return nil }
        let r = storageRecord.withLock { $0 }
        return Reply.json(.ok, .object([("storagePuts", .int(Int64(r.puts))), ("withAuthorization", .int(Int64(r.withAuthorization))),
                                        ("hosts", .array(r.hosts.sorted().map { .string($0) }))]))
    }
    public func baseURL(origin: String) -> String { origin + "/api/v1/" }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("GC_URL", endpoint.url), ("GC_TOKEN", GrandChallengeEmulator.token)]
    }

    public var dataSummary: [String: Int] {
        data.withLock { d in
            ["archives": d.archives.count, "archiveItems": d.archiveItems.count, "images": d.images.count,
             "readerStudies": d.readerStudies.count, "displaySets": d.displaySets.count, "algorithms": d.algorithms.count,
             "uploads": d.uploads.count, "jobs": d.jobs.count]
        }
    }

    // MARK: test hooks

    /// Seconds each job status step takes (Validating inputs, Queued, Started; then terminal). Applies to new jobs.
    public var jobStepSeconds: Double {
        get { settings.withLock { $0.jobStepSeconds } }
        set { settings.withLock { $0.jobStepSeconds = newValue } }
    }

    /// The next N jobs fail (with an error message), whatever their input.
    public var failNextJobs: Int {
        get { settings.withLock { $0.failNextJobs } }
        set { settings.withLock { $0.failNextJobs = newValue } }
    }

    /// Presigning more parts answers 403 "Upload limit reached" once this many bytes were received.
    public var uploadQuotaBytes: Int64? {
        get { settings.withLock { $0.uploadQuotaBytes } }
        set { settings.withLock { $0.uploadQuotaBytes = newValue } }
    }

    /// The completed upload bytes of a file name (latest upload of that name), for byte-identical checks.
    public func uploadedBytes(filename: String) -> [UInt8]? {
        data.withLock { d in
            d.uploadOrder.reversed().compactMap { d.uploads[$0] }.first { $0.filename == filename && $0.status == "Completed" }
                .flatMap { $0.body?.allBytes() }
        }
    }

    /// Upload counts by status (`Initialized`, `Completed`, `Aborted`): an `Initialized` one is an orphan.
    public func uploadStatusCounts() -> [String: Int] {
        data.withLock { d in d.uploads.values.reduce(into: [:]) { $0[$1.status, default: 0] += 1 } }
    }

    /// Number of jobs ever created.
    public var jobCount: Int { data.withLock { $0.jobs.count } }

    /// Mutations: `settings/job-step-seconds` (content: seconds), `jobs/fail-next` (content: count, default 1),
    /// `settings/upload-quota-bytes` (content: bytes; remove to lift), and images of the archive:
    /// `archives/<slug>/<name>.mha` (add with `size`, remove).
    public func mutate(_ m: SandboxMutation) throws -> String {
        let parts = m.path.split(separator: "/").map(String.init)
        switch (parts.first, parts.count) {
        case ("settings", 2) where parts[1] == "job-step-seconds":
            guard let v = m.content.flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }), v >= 0 else {
                throw SandboxError("settings/job-step-seconds needs content: seconds (e.g. \"0.05\")")
            }
            jobStepSeconds = v
            return m.path
        case ("settings", 2) where parts[1] == "upload-quota-bytes":
            uploadQuotaBytes = m.op == .remove ? nil : m.content.flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } ?? m.size
            return m.path
        case ("jobs", 2) where parts[1] == "fail-next":
            failNextJobs = m.op == .remove ? 0 : Int(m.content ?? "1") ?? 1
            return m.path
        case ("archives", 3):
            return try data.withLock { d in
                guard let archive = d.archives.first(where: { $0.slug == parts[1] }) else { throw SandboxError("no archive \(parts[1])") }
                switch m.op {
                case .remove:
                    guard let i = d.archiveItems.firstIndex(where: { item in
                        item.archivePK == archive.pk && item.values.contains { $0.imagePK.flatMap { d.images[$0]?.name } == parts[2] }
                    }) else { throw SandboxError("no image \(parts[2]) in \(parts[1])") }
                    d.archiveItems.remove(at: i)
                case .add, .modify:
                    var image = d.makeImage(name: parts[2], label: "mutation/\(m.path)/\(d.images.count)")
                    if let text = m.content { image.body = .stored(ByteBuffer(string: text)) }
                    else if let size = m.size, case .synthetic(let key, _) = image.body { image.body = .synthetic(key: key, size: size) }
                    d.addImage(image)
                    let value = d.value(socket: "generic-medical-image", imagePK: image.pk)
                    d.archiveItems.append(GCArchiveItem(pk: d.newUUID("archive-item"), archivePK: archive.pk, title: "", values: [value]))
                }
                return m.path
            }
        default:
            throw SandboxError("unknown Grand Challenge item path \(m.path); see GrandChallengeEmulator.mutate")
        }
    }

    // MARK: dispatch

    public func handle(_ req: SandboxRequest) async throws -> Response {
        let seg = req.segments
        if seg.first == "media" { return media(req) }
        if seg.first == "storage" { return try await putPart(req) }
        guard seg.count >= 2, seg[0] == "api", seg[1] == "v1" else {
            req.route("(unknown)")
            return notFound()
        }
        let rest = Array(seg.dropFirst(2))
        if rest == ["gcapi"] {
            req.route("/api/v1/gcapi/", .auth)
            return Reply.json(.ok, .object([("latest_version", .string(Self.latestClientVersion)),
                                            ("lowest_supported_version", .string(Self.lowestClientVersion))]))
        }
        let caller: Caller
        switch authenticate(req) {
        case .failure(let refused):
            req.route("/api/v1/" + (rest.first ?? "") + " (unauthorized)", .auth)
            return refused.response
        case .success(let c): caller = c
        }
        return try await route(req, rest, caller)
    }

    /// Who is asking: the sandbox user, or nobody (reads see nothing, writes are refused).
    enum Caller { case user, anonymous }

    /// knox `TokenAuthentication` with keyword `Bearer` (case-insensitive); other schemes are anonymous.
    func authenticate(_ req: SandboxRequest) -> Result<Caller, ResponseError> {
        guard let header = req.header("Authorization") else { return .success(.anonymous) }
        let parts = header.split(separator: " ", omittingEmptySubsequences: true)
        guard let keyword = parts.first, keyword.lowercased() == "bearer" else { return .success(.anonymous) }
        if parts.count == 1 { return .failure(unauthorized("Invalid token header. No credentials provided.")) }
        if parts.count > 2 { return .failure(unauthorized("Invalid token header. Token string should not contain spaces.")) }
        return parts[1] == Self.token ? .success(.user) : .failure(unauthorized("Invalid token."))
    }

    /// A response carried as an error value (for `Result`).
    struct ResponseError: Error, @unchecked Sendable { let response: Response }

    // MARK: replies

    func detail(_ text: String, _ status: HTTPResponse.Status) -> Response {
        Reply.json(status, .object([("detail", .string(text))]))
    }

    func notFound(_ model: String? = nil) -> Response {
        detail(model.map { "No \($0) matches the given query." } ?? "Not found.", .notFound)
    }

    func unauthorized(_ text: String) -> ResponseError {
        ResponseError(response: Reply.json(.unauthorized, .object([("detail", .string(text))]), headers: [.wwwAuthenticate: "Bearer"]))
    }

    func forbidden() -> Response { detail("You do not have permission to perform this action.", .forbidden) }

    func methodNotAllowed(_ req: SandboxRequest, allow: String) -> Response {
        Reply.json(.methodNotAllowed, .object([("detail", .string("Method \"\(req.method.rawValue)\" not allowed."))]), headers: [.allow: allow])
    }

    func badRequest(_ value: JSON) -> Response { Reply.json(.badRequest, value) }

    /// `{"non_field_errors": [text]}`, DRF's shape for whole-object validation errors.
    func nonField(_ text: String) -> Response { badRequest(.object([("non_field_errors", [.string(text)])])) }

    /// One page of a list, DRF `LimitOffsetPagination` (default 100, at most 1000); 200 with
    /// empty `results` past the end (gcapi's `iterate_all` stops on that).
    func page(_ req: SandboxRequest, _ rows: [JSON], countLie: Int? = nil) -> Response {
        var limit = Int(req.query["limit"] ?? "") ?? 100
        if limit <= 0 { limit = 100 }
        limit = min(limit, 1000)
        let offset = max(0, Int(req.query["offset"] ?? "") ?? 0)
        let slice = offset < rows.count ? Array(rows[offset..<min(rows.count, offset + limit)]) : []
        func link(_ newOffset: Int?) -> JSON {
            var items = req.queryItems.filter { $0.0 != "limit" && $0.0 != "offset" }
            items.append(("limit", String(limit)))
            if let newOffset { items.append(("offset", String(newOffset))) }
            items.sort { $0.0 < $1.0 }
            let query = items.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
            return .string(req.origin + req.path + "?" + query)
        }
        let next: JSON = offset + limit < rows.count ? link(offset + limit) : .null
        let previous: JSON = offset <= 0 ? .null : (offset - limit <= 0 ? link(nil) : link(offset - limit))
        return Reply.json(.ok, .object([("count", .int(Int64(countLie ?? rows.count))), ("next", next), ("previous", previous),
                                        ("results", .array(slice))]))
    }

    static func encode(_ s: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// The request body as a JSON object (nil when it is not one).
    func jsonBody(_ req: SandboxRequest) async throws -> [String: Any]? {
        let buffer = try await req.body(maxSize: 16 << 20)
        if buffer.readableBytes == 0 { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any]
    }

    func serializer(_ req: SandboxRequest, _ d: GCData) -> GCSerializer {
        GCSerializer(api: req.origin + "/api/v1/", origin: req.origin, data: d)
    }

    /// The pk at the end of one of our API URLs (`.../archives/<pk>/`), or the text itself.
    static func lastSegment(_ url: String) -> String {
        url.split(separator: "?").first.map { $0.split(separator: "/").last.map(String.init) ?? "" } ?? url
    }
}
