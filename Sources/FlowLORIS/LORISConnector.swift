import Foundation
import FlowConnector
import FlowHTTP
import FlowModel
import Synchronization

/// Connector for the LORIS REST API (PREVENT-AD's `v0.0.3-dev`, current `v0.0.3`, `v0.0.4-dev`):
/// lists candidates -> visits -> images, downloads images, serves QC and visit metadata extras.
public struct LORISConnector: Connector {
    public let spec: SourceSpec
    /// The API root with its version, e.g. `https://openpreventad.loris.ca/api/v0.0.3-dev`.
    public let apiBase: String
    /// The API version segment (`v0.0.3-dev`, `v0.0.3`, `v0.0.4-dev`).
    public let apiVersion: String
    let session: SourceSession
    public var taskExecutors: [any TaskExecutor] { session.http.taskExecutors }
    /// Each visit's `GET /candidates/{id}/{visit}` reply from the listing, kept for the
    /// `visit-metadata` extra so it costs no second request.
    let visitReplies = VisitReplies()

    /// Builds the connector. The URL is either the API root (`.../api/v0.0.3-dev`) or the site
    /// (`https://host`), in which case `options.api` (default `v0.0.3`) picks the version.
    public init(spec: SourceSpec) throws {
        try spec.requireWebURL("LORIS")
        (apiBase, apiVersion) = try Self.apiRoot(url: spec.url, option: spec.options["api"])
        guard let user = spec.credentials["user"]?.revealed, let password = spec.credentials["password"]?.revealed else {
            throw ConnectorError.authentication("LORIS source `\(spec.name)` needs `user` and `password` (the API logs in with them for a token)")
        }
        self.spec = spec
        let ref = SessionRef()
        let login = SessionLogin(try LORISLogin(user: user, password: password, apiBase: apiBase), session: ref)
        session = try SourceSession(spec: spec, auth: login)
        ref.value = session
    }

    /// Splits a source URL into the API root and version, checking it against `options.api`.
    static func apiRoot(url: String, option: String?) throws -> (String, String) {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        let segments = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        if let i = segments.lastIndex(where: { $0.hasPrefix("v") && $0.dropFirst().first?.isNumber == true }), i > 0, segments[i - 1] == "api" {
            let version = String(segments[i])
            if let option, option != version {
                throw ConnectorError.unsupported("LORIS URL names API \(version) but `api: \(option)` asks for another; keep one")
            }
            return (segments[...i].joined(separator: "/"), version)
        }
        let version = option ?? "v0.0.3"
        guard version.hasPrefix("v"), version.dropFirst().first?.isNumber == true else {
            throw ConnectorError.unsupported("LORIS `api: \(version)` is not an API version like v0.0.3-dev, v0.0.3 or v0.0.4-dev")
        }
        return (trimmed + "/api/" + version, version)
    }

    /// API path of a visit: `/candidates/{CandID}/{Visit}`.
    static func visitPath(_ candID: String, _ visit: String) -> String {
        "/candidates/\(URLText.segment(candID))/\(URLText.segment(visit))"
    }

    func url(_ path: String) -> String { URLText.join(apiBase, path) }

    /// GETs an API path and decodes its JSON (whatever the Content-Type: legacy sends text/html).
    func getJSON(_ path: String) async throws -> JSONValue {
        try await getReply(path).json
    }

    /// GETs an API path: its body as sent, and as JSON.
    func getReply(_ path: String) async throws -> (body: [UInt8], json: JSONValue) {
        let response = try await session.request(HTTPRequest(url: url(path)))
        return (response.body, try SourceSession.decode(JSONValue.self, response.body, from: path))
    }

    // MARK: identity, fetch, extras

    public func identity() async throws -> [String: String] {
        ["type": "loris", "url": spec.url, "api": apiVersion]
    }

    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await session.fetch(item, to: partPath, resume: resume, unnamed: unnamed, ticketed: true, progress: progress)
    }

    /// `qc`: the image's QC JSON as the server sends it (stored as `<file>.qc.json`);
    /// `visit-metadata`: the visit's `Meta` object (stored as `session.json`, as the PREVENT-AD script did).
    public func extra(_ name: String, of item: RemoteItem) async throws -> [UInt8] {
        guard let candID = item.fields["candidate.CandID"], let visit = item.fields["visit.label"] else {
            throw ConnectorError.badReply("\(item.id): item has no candidate.CandID / visit.label fields")
        }
        switch name {
        case "qc":
            let path = Self.visitPath(candID, visit) + "/images/" + URLText.segment(item.fields["file.name"] ?? "") + "/qc"
            let response = try await session.request(HTTPRequest(url: url(path)))
            _ = try SourceSession.decode(JSONValue.self, response.body, from: path)  // a clear error if it is not JSON
            return response.body
        case "visit-metadata":
            let path = Self.visitPath(candID, visit)
            let body: [UInt8]
            if let listed = visitReplies.take(path) {
                body = listed
            } else {
                body = try await session.request(HTTPRequest(url: url(path))).body  // listed from a lock file, or a retry
            }
            let object = try? JSONSerialization.jsonObject(with: Data(body))
            guard let meta = (object as? [String: Any])?["Meta"], JSONSerialization.isValidJSONObject(meta) else {
                throw ConnectorError.badReply("\(path): no `Meta` object in the visit's reply")
            }
            let data = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            return Array(data) + [UInt8(ascii: "\n")]
        default:
            throw ConnectorError.unsupported("LORIS has no `\(name)` extra (known: qc, visit-metadata)")
        }
    }
}

/// Visit replies kept from the listing until the `visit-metadata` extra takes them.
final class VisitReplies: Sendable {
    private let replies = Mutex<[String: [UInt8]]>([:])

    func keep(_ body: [UInt8], for path: String) {
        replies.withLock { $0[path] = body }
    }

    /// The reply kept for a visit, forgotten once taken (a retried extra asks the server again).
    func take(_ path: String) -> [UInt8]? {
        replies.withLock { $0.removeValue(forKey: path) }
    }
}
