import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// One request the elsewhere origin received, reduced to what a test asks about it.
struct ElsewhereRequest: Sendable {
    var method: String
    var target: String
    var authorization: Bool
    var cookie: Bool
    /// The hostile XNAT's password, basic token or one of its session ids, anywhere in the request.
    var credentials: Bool
    var headerNames: [String]

    var json: JSON {
        .object([("method", .string(method)), ("target", .string(target)), ("authorization", .bool(authorization)),
                 ("cookie", .bool(cookie)), ("credentials", .bool(credentials)),
                 ("headers", .array(headerNames.map { .string($0) }))])
    }
}

/// The elsewhere origin: another port, so another origin, where hostile redirects and foreign
/// file URIs point. It records every request (whether it carried `Authorization`, `Cookie`, or
/// the hostile XNAT's credentials), serves the catalogue's honest bytes under `.../files/<slug>`,
/// and answers `/hostile/challenge/<slug>` with a 401 Basic challenge.
public final class HostileElsewhereEmulator: PlatformEmulator {
    public static let id = PlatformID.hostileElsewhere
    public static let defaultTLS = false
    public static let isHostile = true
    /// Requests kept in the record; later ones are only counted.
    static let recordLimit = 500

    private let catalogue = HostileCatalogue.standard
    private struct Record { var entries: [ElsewhereRequest] = []; var total = 0 }
    private let record = Mutex(Record())
    private let xnat = Mutex<HostileXNATEmulator?>(nil)

    public init(context: PlatformContext) throws {}

    public var credentials: SandboxCredentials { SandboxCredentials() }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("HOSTILE_ELSEWHERE_URL", endpoint.url)]
    }

    public var dataSummary: [String: Int] { ["requests": record.withLock { $0.total }] }

    public func mutate(_ mutation: SandboxMutation) throws -> String {
        throw SandboxError("the elsewhere origin has no data to mutate")
    }

    public func sandboxDidStart(endpoints: [PlatformID: SandboxEndpoint], peers: [PlatformID: any PlatformEmulator]) {
        xnat.withLock { $0 = peers[.hostileXNAT] as? HostileXNATEmulator }
    }

    public func control(method: HTTPRequest.Method, path: [String], query: [String: String]) -> Response? {
        switch (method, path) {
        case (.get, ["hostile", "elsewhere"]): return recordJSON()
        case (.delete, ["hostile", "elsewhere"]), (.post, ["hostile", "elsewhere", "reset"]):
            resetRecord()
            return Reply.json(.ok, .object([("reset", true)]))
        default: return nil
        }
    }

    /// The record as JSON: counts, then the first `recordLimit` requests.
    func recordJSON() -> Response {
        let snapshot = record.withLock { $0 }
        return Reply.json(.ok, .object([
            ("requests", .int(Int64(snapshot.total))),
            ("withAuthorization", .int(Int64(snapshot.entries.filter(\.authorization).count))),
            ("withCookie", .int(Int64(snapshot.entries.filter(\.cookie).count))),
            ("withCredentials", .int(Int64(snapshot.entries.filter(\.credentials).count))),
            ("entries", .array(snapshot.entries.map(\.json))),
        ]))
    }

    func resetRecord() { record.withLock { $0 = Record() } }

    public func handle(_ req: SandboxRequest) async throws -> Response {
        let target = req.path + (req.request.uri.query.map { "?" + $0 } ?? "")
        let everything = ([target] + req.headers.map { "\($0.name.rawName): \($0.value)" }).joined(separator: "\n")
        let leaks = xnat.withLock { $0 }?.carriesCredential(everything) ?? false
        let entry = ElsewhereRequest(method: req.method.rawValue, target: target, authorization: req.header("Authorization") != nil,
                                     cookie: req.header("Cookie") != nil, credentials: leaks,
                                     headerNames: req.headers.map { $0.name.rawName })
        record.withLock { r in
            r.total += 1
            if r.entries.count < HostileElsewhereEmulator.recordLimit { r.entries.append(entry) }
        }

        let seg = req.segments
        if seg.count == 3, seg[0] == "hostile", seg[1] == "challenge" {
            req.route("/hostile/challenge/{file}", .auth)
            return HostileXNATEmulator.unauthorized(realm: "elsewhere")
        }
        if seg.count >= 2, seg[seg.count - 2] == "files", let file = catalogue.file(slug: seg[seg.count - 1]) {
            req.route("/**/files/{file}", .download)
            return FileServer.serve(req, HostileReplies.served(file.body))
        }
        req.route("(unknown)")
        return Reply.text(.notFound, "nothing here", contentType: "text/plain")
    }
}
