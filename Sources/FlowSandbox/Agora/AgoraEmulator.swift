import FlowFiles
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Emulator of GyroTools Agora's REST API as gtagora-connector uses it (see `api/agora.md`): API-key,
/// token and basic auth; projects, folders, exams, series, datasets and datafiles; tags; the
/// chunked import protocol; tasks whose timeline items finish (or fail) after a set time.
///
/// Served at the origin's root (gtagora-connector drops any path in its base URL).
public final class AgoraEmulator: PlatformEmulator {
    public static let id = PlatformID.agora
    public static let defaultTLS = false
    /// Fixed, well-known sandbox credentials.
    public static let apiKey = "sandbox-agora-api-key"
    public static let username = "sandbox"
    public static let password = "sandbox-agora"
    /// The version the emulator reports (gtagora-connector needs at least 7.14.0).
    public static let version = "7.14.0"

    let data: Mutex<AgoraData>
    let faults: FaultController
    /// Tokens handed out by `rest-auth/login`, with their issue time.
    let tokens = Mutex<[String: Date]>([:])
    /// Timing knobs: how long a task run and an import take (seconds).
    private let timing = Mutex<(task: Double, importing: Double)>((2.0, 0.5))
    /// SHA-1 per datafile id (synthetic bodies are hashed once, on first listing).
    let sha1Cache = Mutex<[Int: String]>([:])
    /// Imports into a folder named `hostile-import-*` misbehave (Hostile/README.md, "Agora").
    let hostile: Bool

    public init(context: PlatformContext) throws {
        let c = context.configuration
        hostile = c.hostile
        data = Mutex(AgoraData(seed: context.platformSeed, sizes: c.fileSize, examCount: max(1, c.scaled(6)), hostile: c.hostile))
        faults = context.faults
    }

    public var credentials: SandboxCredentials {
        SandboxCredentials(username: AgoraEmulator.username, password: AgoraEmulator.password, apiKey: AgoraEmulator.apiKey)
    }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("AGORA_URL", endpoint.url), ("AGORA_API_KEY", AgoraEmulator.apiKey),
         ("AGORA_USER", AgoraEmulator.username), ("AGORA_PASSWORD", AgoraEmulator.password)]
    }

    public var dataSummary: [String: Int] {
        data.withLock { d in
            ["projects": d.projects.count, "exams": d.exams.count, "series": d.series.count,
             "datasets": d.datasets.count, "files": d.fileCount]
        }
    }

    /// Seconds a task run stays in state 1 (started) before it finishes or fails.
    public var taskDuration: Double {
        get { timing.withLock { $0.task } }
        set { timing.withLock { $0.task = max(0, newValue) } }
    }

    /// Seconds an import takes after `complete` (states 2-4, then 5 with progress 100).
    public var importDuration: Double {
        get { timing.withLock { $0.importing } }
        set { timing.withLock { $0.importing = max(0, newValue) } }
    }

    /// Bytes of a datafile (uploads come back byte-identical), by id.
    public func datafileBytes(_ id: Int) -> [UInt8]? {
        data.withLock { $0.datafiles[id]?.body }?.allBytes()
    }

    // MARK: dispatch

    public func handle(_ req: SandboxRequest) async throws -> Response {
        let seg = req.segments
        guard seg.count >= 2, seg[0] == "api", seg[1] == "v1" || seg[1] == "v2" else {
            req.route("(unknown)")
            return notFound()
        }
        let version = seg[1]
        let rest = Array(seg.dropFirst(2))
        if rest == ["version"] {
            req.route("/api/v1/version/", .auth)
            return Reply.json(.ok, .object([("server", "Agora (flowctl-sandbox)"), ("version", .string(AgoraEmulator.version))]))
        }
        if rest == ["rest-auth", "login"] {
            req.route("/api/v1/rest-auth/login/", .auth)
            return await login(req)
        }
        guard authorized(req) else {
            req.route("/api/\(version)/\(rest.first ?? "") (unauthorized)", .auth)
            return Reply.json(.unauthorized, .object([("detail", "Authentication credentials were not provided.")]),
                              headers: [.wwwAuthenticate: "Token"])
        }
        switch (version, rest.first) {
        case ("v1", "user"): return user(req, Array(rest.dropFirst()))
        case ("v1", "apikey"):
            req.route("/api/v1/apikey/", .auth)
            return Reply.json(req.method == .post ? .created : .ok, .object([("key", .string(AgoraEmulator.apiKey))]))
        case ("v2", "project"): return try await projects(req, Array(rest.dropFirst()))
        case (_, "folder"): return try await folders(req, version, Array(rest.dropFirst()))
        case ("v1", "exam"), ("v2", "exam"): return try await exams(req, version, Array(rest.dropFirst()))
        case ("v1", "serie"), ("v2", "series"): return try await series(req, version, Array(rest.dropFirst()))
        case (_, "dataset"): return try await datasets(req, version, Array(rest.dropFirst()))
        case ("v1", "datafile"): return datafiles(req, Array(rest.dropFirst()))
        case ("v1", "patient"): return patients(req, Array(rest.dropFirst()))
        case ("v2", "tag-definition"): return try await tagDefinitions(req, Array(rest.dropFirst()))
        case ("v2", "tag-instance"): return try await tagInstances(req, Array(rest.dropFirst()))
        case ("v1", "taskdefinition"): return try await taskDefinitions(req, Array(rest.dropFirst()))
        case ("v2", "taskdefinition_yaml"):
            req.route("/api/v2/taskdefinition_yaml/", .listing)
            return page(req, [])
        case ("v2", "timeline"): return timeline(req, Array(rest.dropFirst()))
        case ("v1", "import"): return try await imports(req, Array(rest.dropFirst()))
        default:
            req.route("/api/\(version)/(unknown)")
            return notFound()
        }
    }

    // MARK: auth

    /// `Authorization: X-Agora-Api-Key <key>`, `Token <token>` (from login) or HTTP basic.
    func authorized(_ req: SandboxRequest) -> Bool {
        guard let header = req.header("Authorization") else { return false }
        if header.hasPrefix("X-Agora-Api-Key ") { return header.dropFirst("X-Agora-Api-Key ".count) == AgoraEmulator.apiKey }
        if header.hasPrefix("Token ") {
            let token = String(header.dropFirst("Token ".count))
            guard let issued = tokens.withLock({ $0[token] }) else { return false }
            if let lifetime = faults.settings(for: .agora).tokenLifetimeSeconds { return Date().timeIntervalSince(issued) < Double(lifetime) }
            return true
        }
        if let basic = req.basicCredentials { return basic.user == AgoraEmulator.username && basic.password == AgoraEmulator.password }
        return false
    }

    private func login(_ req: SandboxRequest) async -> Response {
        guard req.method == .post else { return methodNotAllowed() }
        let form = await bodyFields(req)
        guard form["username"] as? String == AgoraEmulator.username, form["password"] as? String == AgoraEmulator.password else {
            return Reply.json(.badRequest, .object([("non_field_errors", ["Unable to log in with provided credentials."])]))
        }
        let token = (0..<20).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        tokens.withLock { $0[token] = Date() }
        return Reply.json(.ok, .object([("key", .string(token))]))
    }

    private func user(_ req: SandboxRequest, _ rest: [String]) -> Response {
        req.route("/api/v1/user/" + (rest.isEmpty ? "" : "current/"), .auth)
        let me = JSON.object([("id", 1), ("username", .string(AgoraEmulator.username)), ("first_name", "Sandbox"),
                              ("last_name", "User"), ("email", "sandbox@example.org"), ("institution", "flowctl sandbox"),
                              ("is_superuser", false), ("is_staff", false), ("last_login", .string(AgoraData.iso(AgoraData.epoch)))])
        if rest == ["current"] { return Reply.json(.ok, me) }
        if rest.isEmpty { return page(req, [me]) }
        return notFound()
    }

    // MARK: replies

    func notFound() -> Response { Reply.json(.notFound, .object([("detail", "Not found.")])) }
    func methodNotAllowed() -> Response { Reply.json(.methodNotAllowed, .object([("detail", "Method not allowed.")])) }
    func badRequest(_ message: String) -> Response { Reply.json(.badRequest, .object([("detail", .string(message))])) }

    /// A DRF page `{count,next,previous,results}`: `limit` is honoured however large, `offset` pages.
    func page(_ req: SandboxRequest, _ items: [JSON]) -> Response {
        let limit = req.query["limit"].flatMap { Int($0) }.map { max(1, $0) } ?? 100
        let offset = max(0, req.query["offset"].flatMap { Int($0) } ?? 0)
        let start = min(offset, items.count)
        let end = limit >= items.count - start ? items.count : start + limit
        func link(_ newOffset: Int) -> JSON {
            var q = req.queryItems.filter { $0.0 != "offset" && $0.0 != "limit" }
            q.append(("limit", String(limit)))
            q.append(("offset", String(newOffset)))
            let text = q.map { "\(Self.escape($0.0))=\(Self.escape($0.1))" }.joined(separator: "&")
            return .string(req.origin + req.path + "?" + text)
        }
        return Reply.json(.ok, .object([
            ("count", .int(Int64(items.count))),
            ("next", end < items.count ? link(end) : .null),
            ("previous", start > 0 ? link(max(0, start - limit)) : .null),
            ("results", .array(Array(items[start..<end]))),
        ]))
    }

    static func escape(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(CharacterSet(charactersIn: "&=+"))) ?? s
    }

    /// Fields of a JSON, form-encoded or multipart body (gtagora-connector sends all three).
    func bodyFields(_ req: SandboxRequest) async -> [String: Any] {
        guard let buffer = try? await req.body(maxSize: 1 << 20) else { return [:] }
        let bytes = Data(buffer.readableBytesView)
        let type = req.header("Content-Type")?.lowercased() ?? ""
        if type.hasPrefix("multipart/form-data"), let boundary = Multipart.boundary(req.header("Content-Type") ?? "") {
            var out: [String: Any] = [:]
            for part in Multipart.parse(buffer, boundary: boundary) where part.filename == nil {
                if let name = part.name { out[name] = String(decoding: part.body.readableBytesView, as: UTF8.self) }
            }
            return out
        }
        if let object = try? JSONSerialization.jsonObject(with: bytes) as? [String: Any] { return object }
        var out: [String: Any] = [:]
        for (k, v) in SandboxRequest.parseQuery(String(decoding: bytes, as: UTF8.self)) { out[k] = v }
        return out
    }

    /// An integer from a JSON number or a string (`"12"`), as forms and JSON bodies carry them.
    static func int(_ value: Any?) -> Int? {
        if let n = value as? Int { return n }
        if let n = value as? NSNumber { return n.intValue }
        if let s = value as? String { return Int(s) }
        return nil
    }

    /// The `name=` and `type=` filters Agora applies server-side (exact matches).
    static func passes(_ req: SandboxRequest, name: String?, type: Int? = nil) -> Bool {
        if let wanted = req.query["name"], !wanted.isEmpty, name != wanted { return false }
        if let wanted = req.query["type"], !wanted.isEmpty, let type, Int(wanted) != type { return false }
        return true
    }
}
