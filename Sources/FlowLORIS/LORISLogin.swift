import Foundation
import FlowConnector
import FlowHTTP
import FlowModel

/// LORIS logins: `POST /login {"username","password"}` -> JWT, sent as `Authorization: Bearer`.
/// Logs in again shortly before the token's `exp` and after a 401; concurrent requests that
/// saw the same 401 share one login.
actor LORISLogin: Authenticator {
    private let body: [UInt8]
    private let loginURL: String
    private let sessionRef: SessionRef
    private var token: String?
    private var expires: Date?
    /// How long before `expires` a new token is fetched: a tenth of its life, at most a minute.
    private var margin: TimeInterval = 60
    private var inflight: Task<(String, Date?), any Error>?
    private var lastLogin: ContinuousClock.Instant?
    /// Counts logins; requests remember the one they used (see `RequestTicket`).
    private var generation = 0

    init(user: String, password: String, apiBase: String, session: SessionRef) throws {
        body = Array(try JSONSerialization.data(withJSONObject: ["username": user, "password": password]))
        loginURL = URLText.join(apiBase, "login")
        sessionRef = session
    }

    func authorize(_ request: inout HTTPRequest) async throws {
        let current: String
        if let token, expires.map({ $0.timeIntervalSinceNow > margin }) ?? true {
            current = token
        } else {
            current = try await login()
        }
        RequestTicket.current?.generation = generation
        request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(current)")
    }

    func refresh() async throws {
        if inflight != nil { _ = try await login(); return }
        if let used = RequestTicket.current?.generation {
            // Another request has logged in again since this one's credentials were issued.
            if used < generation, token != nil { return }
            token = nil
            _ = try await login()
            return
        }
        // Requests in flight with the old token come back with 401 one after the other.
        if let lastLogin, lastLogin.duration(to: .now) < .milliseconds(500), token != nil { return }
        token = nil
        _ = try await login()
    }

    private func login() async throws -> String {
        if let inflight { return try await inflight.value.0 }
        guard let session = sessionRef.value else { throw ConnectorError.local("LORIS login used before its session was set") }
        let task = Task { [body, loginURL] in try await LORISLogin.perform(session: session, url: loginURL, body: body) }
        inflight = task
        defer { inflight = nil }
        let (jwt, exp) = try await task.value
        token = jwt
        expires = exp
        margin = min(60, max(0, (exp?.timeIntervalSinceNow ?? 600) / 10))
        lastLogin = .now
        generation += 1
        return jwt
    }

    private struct Refused: Error { var message: String }

    /// The login request, with the source's retry rules.
    private static func perform(session: SourceSession, url: String, body: [UInt8]) async throws -> (String, Date?) {
        do {
            return try await session.withRetries(url: url) {
                var request = HTTPRequest(method: "POST", url: url, headers: ["Content-Type": "application/json"], body: .bytes(body))
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
                // Refused credentials are final: thrown outside ConnectorError so no retry re-logs in.
                if response.status == 400 || response.status == 401 || response.status == 403 {
                    throw Refused(message: LORISReply.errorMessage(response.body))
                }
                guard response.isSuccess else {
                    throw ConnectorError.status(response.status, url: url, message: LORISReply.errorMessage(response.body),
                                                retryAfter: RetryPolicy.parseRetryAfter(response.headers.first("Retry-After")))
                }
                let reply = try SourceSession.decode(JSONValue.self, response.body, from: "/login")
                guard let jwt = reply["token"]?.text, !jwt.isEmpty else {
                    throw ConnectorError.badReply("/login: no `token` in the reply")
                }
                return (jwt, expiry(of: jwt))
            }
        } catch let refused as Refused {
            throw ConnectorError.authentication("LORIS at \(URLText.redacted(url)) refused the login: \(refused.message)")
        }
    }

    /// The `exp` claim of a JWT, when it has one (no signature check: the server checks it).
    static func expiry(of jwt: String) -> Date? {
        let parts = jwt.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
        guard let data = Data(base64Encoded: payload),
              let claims = try? JSONDecoder().decode(JSONValue.self, from: data),
              let exp = claims["exp"]?.text.flatMap(Double.init) else { return nil }
        return Date(timeIntervalSince1970: exp)
    }
}
