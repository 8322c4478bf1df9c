import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// XNAT sessions: one `POST /data/JSESSION` with basic auth (user/password, an alias token's
/// alias/secret, or curl's netrc), then the `JSESSIONID` cookie on every request. A 401 makes
/// the session log in again once; concurrent requests that all saw the 401 share one login.
actor XNATLogin: Authenticator {
    /// Basic credentials, when the job gives them; nil means curl's netrc supplies them.
    private let basic: String?
    private let loginURL: String
    private let sessionRef: SessionRef
    private var cookie: String?
    /// Basic auth on every request: when the server gave no session id back.
    private var basicOnly = false
    private var inflight: Task<String?, any Error>?
    private var lastLogin: ContinuousClock.Instant?
    /// Counts logins; requests remember the one they used (see `RequestTicket`).
    private var generation = 0

    init(user: String?, password: String?, baseURL: String, session: SessionRef) {
        sessionRef = session
        if let user, let password {
            basic = "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
        } else {
            basic = nil
        }
        loginURL = URLText.join(baseURL, "/data/JSESSION")
    }

    func authorize(_ request: inout HTTPRequest) async throws {
        if basicOnly {
            if let basic { request.headers.replaceOrAdd(name: "Authorization", value: basic) }
            return
        }
        let id: String?
        if let cookie { id = cookie } else { id = try await login() }
        RequestTicket.current?.generation = generation
        if let id {
            request.headers.replaceOrAdd(name: "Cookie", value: "JSESSIONID=\(id)")
        } else if let basic {
            request.headers.replaceOrAdd(name: "Authorization", value: basic)
        }
    }

    func refresh() async throws {
        if inflight != nil { _ = try await login(); return }
        if let used = RequestTicket.current?.generation {
            // Another request has logged in again since this one's credentials were issued.
            if used < generation, cookie != nil { return }
            cookie = nil
            _ = try await login()
            return
        }
        // Requests that were in flight with the old cookie come back with 401 one after the
        // other; a login that just happened already answers them.
        if let lastLogin, lastLogin.duration(to: .now) < .milliseconds(500), cookie != nil { return }
        cookie = nil
        _ = try await login()
    }

    /// Logs in, or joins the login already under way.
    private func login() async throws -> String? {
        if let inflight { return try await inflight.value }
        guard let session = sessionRef.value else { throw ConnectorError.local("XNAT login used before its session was attached") }
        let task = Task { [basic, loginURL] in try await XNATLogin.perform(session: session, url: loginURL, basic: basic) }
        inflight = task
        defer { inflight = nil }
        let id = try await task.value
        cookie = id
        basicOnly = id == nil
        lastLogin = .now
        generation += 1
        return id
    }

    private struct Refused: Error { var message: String }

    /// `POST /data/JSESSION` with the source's retry rules; returns the session id.
    private static func perform(session: SourceSession, url: String, basic: String?) async throws -> String? {
        do {
            return try await session.withRetries(url: url) {
                var request = HTTPRequest(method: "POST", url: url)
                if let basic { request.headers.add(name: "Authorization", value: basic) }
                if let t = session.spec.timeoutSeconds { request.timeout = .seconds(t) }
                let response: HTTPResponse
                let prepared = request
                do {
                    // Outside the concurrency slots: a login happens while a request already holds one
                    // (SourceSession signs requests inside their slot), so taking another could deadlock.
                    response = try await session.http.send(prepared)
                } catch let error as HTTPError {
                    throw ConnectorError.transport(error, url: url)
                }
                // Bad credentials are final: thrown outside ConnectorError so no retry loop re-logs in.
                if response.status == 401 || response.status == 403 {
                    throw Refused(message: "HTTP \(response.status)")
                }
                guard response.isSuccess else {
                    throw ConnectorError.status(response.status, url: url, message: "",
                                                retryAfter: RetryPolicy.parseRetryAfter(response.headers.first("Retry-After")))
                }
                return sessionID(response)
            }
        } catch let refused as Refused {
            throw ConnectorError.authentication("XNAT at \(URLText.redacted(url)) refused the login"
                                                + (refused.message.isEmpty ? "" : ": \(refused.message)"))
        }
    }

    /// The JSESSION id: the body (32 hex characters) or the `JSESSIONID` cookie.
    static func sessionID(_ response: HTTPResponse) -> String? {
        let body = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if !body.isEmpty, body.count <= 64, body.allSatisfy({ $0.isHexDigit }) { return body }
        for header in response.headers.values("Set-Cookie") {
            let first = header.split(separator: ";").first ?? ""
            let pair = first.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0] == "JSESSIONID", !pair[1].isEmpty { return pair[1] }
        }
        return nil
    }
}
