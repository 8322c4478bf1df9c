import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// Emulator of XNAT's REST API (`/data/...`, `/xapi/...`), see `api/xnat.md`.
public final class XNATEmulator: PlatformEmulator {
    public static let id = PlatformID.xnat
    public static let defaultTLS = false
    /// Fixed, well-known sandbox credentials.
    public static let username = "sandbox"
    public static let password = "sandbox-xnat"

    let data: Mutex<XNATData>
    let auth: XNATAuth

    /// Ends every session now: the next request with one gets 401 (tests of re-login, with no
    /// waiting for a lifetime to run out).
    public func expireSessions() { auth.endAllSessions() }
    let configuration: SandboxConfiguration

    public init(context: PlatformContext) throws {
        configuration = context.configuration
        let subjects = context.configuration.scaled(context.configuration.xnatSubjects)
        data = Mutex(XNATData(seed: context.platformSeed, subjects: subjects,
                              dicomPerScan: context.configuration.xnatDicomFilesPerScan, sizes: context.configuration.fileSize,
                              scansPerSession: context.configuration.xnatScansPerSession))
        auth = XNATAuth(username: XNATEmulator.username, password: XNATEmulator.password, faults: context.faults)
    }

    public var credentials: SandboxCredentials { SandboxCredentials(username: XNATEmulator.username, password: XNATEmulator.password) }

    public func environment(endpoint: SandboxEndpoint) -> [(String, String)] {
        [("XNAT_URL", endpoint.url), ("XNAT_USER", XNATEmulator.username), ("XNAT_PASS", XNATEmulator.password),
         ("XNATPY_HOST", endpoint.url)]
    }

    public var dataSummary: [String: Int] {
        data.withLock { d in
            ["projects": d.projects.count, "subjects": d.subjects.count, "experiments": d.experiments.count,
             "scans": d.experiments.values.reduce(0) { $0 + $1.scans.count }, "files": d.fileCount]
        }
    }

    // MARK: dispatch

    public func handle(_ req: SandboxRequest) async throws -> Response {
        var seg = req.segments
        // `/REST/...` (XNAT 1.4) and `/data/archive/...` are aliases of `/data/...`.
        if seg.first == "REST" { seg[0] = "data" }
        if seg.count >= 2, seg[0] == "data", seg[1] == "archive" { seg.remove(at: 1) }

        if seg.isEmpty { return root(req) }
        if seg == ["data", "version"] {
            req.route("/data/version")
            return XNATEmulator.error(.notFound, "The requested resource is not available.")
        }
        if seg == ["xapi", "siteConfig", "buildInfo"] || seg == ["xapi", "siteConfig", "buildInfo", "version"] {
            req.route("/xapi/siteConfig/buildInfo")
            if seg.count == 4 { return Reply.text(.ok, "1.8.10") }
            return Reply.json(.ok, .object([("version", "1.8.10"), ("buildNumber", "flowctl-sandbox"), ("buildDate", "2024-01-01"),
                                            ("commit", "sandbox"), ("isDirty", "false")]))
        }
        if seg == ["xapi", "siteConfig", "uptime"] {
            req.route("/xapi/siteConfig/uptime")
            return Reply.json(.ok, .object([("days", 0), ("hours", 1), ("minutes", 0), ("seconds", 0)]))
        }
        if seg.first == "xapi", seg.count >= 2, seg[1] == "schemas" {
            return XNATSchemas.respond(req, Array(seg.dropFirst(2)))
        }
        guard seg.first == "data", seg.count >= 2 else {
            req.route("(unknown)")
            return XNATEmulator.error(.notFound, "The server has not found anything matching the request URI")
        }
        let rest = Array(seg.dropFirst())

        // Session endpoints authenticate on their own terms.
        if rest == ["JSESSION"] { return jsession(req) }
        if rest == ["services", "auth"], req.method == .put || req.method == .post { return await servicesAuth(req) }

        guard let user = authenticate(req) else {
            req.route("/data/** (unauthenticated)", .auth)
            return XNATEmulator.unauthorized()
        }
        if rest == ["auth"] {
            req.route("/data/auth", .auth)
            return Reply.text(.ok, "User '\(user)' is logged in")
        }
        if rest.first == "services", rest.count >= 2, rest[1] == "tokens" { return tokens(req, Array(rest.dropFirst(2)), user: user) }
        if rest.first == "search", rest.count >= 2, rest[1] == "elements" {
            if rest.count == 3 {
                req.route("/data/search/elements/{element}", .listing)
                let rows: [XNATRow] = ["ID", "LABEL", "PROJECT"].map { [("FIELD_ID", $0), ("SUMMARY", $0.capitalized), ("TYPE", "string"),
                                                                         ("REQUIRES_VALUE", "false"), ("DESC", $0.capitalized)] }
                return XNATTable(rows: rows, defaultColumns: ["FIELD_ID", "SUMMARY", "TYPE", "REQUIRES_VALUE", "DESC"], addIDAndURI: false).render(req)
            }
            req.route("/data/search/elements", .listing)
            return XNATTable(rows: XNATSchemas.elementRows, defaultColumns: ["ELEMENT_NAME", "PLURAL", "SINGULAR", "COUNT"],
                             addIDAndURI: false).render(req)
        }
        return try await archive(req, rest)
    }

    private func root(_ req: SandboxRequest) -> Response {
        req.route("/")
        var headers: HTTPFields = [:]
        // xnatpy logs in with alias tokens by GET {server} with basic auth and keeps the JSESSIONID cookie.
        if let (u, p) = req.basicCredentials, case .ok(let user) = auth.check(user: u, password: p) {
            let id = auth.newSession(for: user)
            headers[values: .setCookie] = ["JSESSIONID=\(id); Path=/; HttpOnly", "SESSION_EXPIRATION_TIME=\(auth.expirationCookie); Path=/"]
        }
        return Reply.text(.ok, "XNAT (flowctl-sandbox). REST API under /data.", headers: headers)
    }

    /// The logged-in user: JSESSIONID cookie, else HTTP basic (account or alias token).
    func authenticate(_ req: SandboxRequest) -> String? {
        if let id = req.cookie("JSESSIONID"), let user = auth.user(forSession: id) { return user }
        if let (u, p) = req.basicCredentials, case .ok(let user) = auth.check(user: u, password: p) { return user }
        return nil
    }

    private func sessionHeaders(_ id: String) -> HTTPFields {
        var h: HTTPFields = [:]
        h[values: .setCookie] = ["JSESSIONID=\(id); Path=/; HttpOnly", "SESSION_EXPIRATION_TIME=\(auth.expirationCookie); Path=/"]
        return h
    }

    private func jsession(_ req: SandboxRequest) -> Response {
        req.route("/data/JSESSION", .auth)
        switch req.method {
        case .delete:
            if let id = req.cookie("JSESSIONID") { auth.endSession(id) }
            return Reply.text(.ok, "")
        default:
            if req.method == .get, let id = req.cookie("JSESSIONID"), auth.user(forSession: id) != nil {
                return Reply.text(.ok, id, headers: sessionHeaders(id))
            }
            if let (u, p) = req.basicCredentials {
                switch auth.check(user: u, password: p) {
                case .ok(let user):
                    let id = auth.newSession(for: user)
                    return Reply.text(.ok, id, headers: sessionHeaders(id))
                case .locked: return XNATEmulator.unauthorized(locked: true)
                case .bad: return XNATEmulator.unauthorized()
                }
            }
            // Guest: a session id all the same (guest browsing); data routes still need a login.
            let id = auth.newSession(for: "guest")
            return Reply.text(.ok, id, headers: sessionHeaders(id))
        }
    }

    private func servicesAuth(_ req: SandboxRequest) async -> Response {
        req.route("/data/services/auth", .auth)
        let body = (try? await req.body(maxSize: 1 << 16)).map { String(buffer: $0) } ?? ""
        let form = Dictionary(SandboxRequest.parseQuery(body), uniquingKeysWith: { $1 })
        let user = form["username"] ?? req.query["username"] ?? ""
        let pass = form["password"] ?? req.query["password"] ?? ""
        switch auth.check(user: user, password: pass) {
        case .ok(let u):
            let id = auth.newSession(for: u)
            return Reply.text(.ok, id, headers: sessionHeaders(id))
        case .locked: return XNATEmulator.unauthorized(locked: true)
        case .bad: return XNATEmulator.unauthorized()
        }
    }

    private func tokens(_ req: SandboxRequest, _ rest: [String], user: String) -> Response {
        switch rest.first {
        case "issue":
            req.route("/data/services/tokens/issue", .auth)
            let t = auth.issueToken(for: rest.count == 3 && rest[1] == "user" ? rest[2] : user)
            let ms = Int64(t.created.timeIntervalSince1970 * 1000)
            return Reply.json(.ok, .object([
                ("alias", .string(t.alias)), ("xdatUserId", 1), ("secret", .string(t.secret)), ("singleUse", false),
                ("estimatedExpirationTime", .int(ms + 48 * 3600 * 1000)), ("timestamp", .int(ms)), ("enabled", true),
                ("created", .int(ms)), ("id", 1), ("disabled", 0),
            ]))
        case "validate" where rest.count == 3:
            req.route("/data/services/tokens/validate/{alias}/{secret}", .auth)
            if let u = auth.validate(alias: rest[1], secret: rest[2]) { return Reply.json(.ok, .object([("valid", .string(u))])) }
            return Reply.json(.ok, .object([]))
        case "invalidate" where rest.count == 3:
            req.route("/data/services/tokens/invalidate/{alias}/{secret}", .auth)
            return auth.invalidate(alias: rest[1], secret: rest[2]) ? Reply.text(.ok, "") : XNATEmulator.error(.notFound, "Unknown token")
        default:
            req.route("/data/services/tokens/**")
            return XNATEmulator.error(.notFound, "The server has not found anything matching the request URI")
        }
    }

    // MARK: errors

    /// XNAT error bodies are HTML status pages with the message in an `<h3>`.
    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let html = "<html><head><title>Status page</title></head><body><h3>\(escape(message))</h3>"
            + "<p>You can get technical details <a href=\"http://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html\">here</a>.</p></body></html>"
        return Reply.text(status, html, contentType: "text/html;charset=UTF-8")
    }

    static func unauthorized(locked: Bool = false) -> Response {
        var r = error(.unauthorized, locked ? "Login attempt failed: account locked after too many failed logins. The request requires user authentication"
                                            : "The request requires user authentication")
        r.headers[.wwwAuthenticate] = "Basic realm=\"XNAT\""
        return r
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
