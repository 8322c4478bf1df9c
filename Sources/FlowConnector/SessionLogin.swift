import FlowHTTP
import FlowModel

/// What a source's login knows, as a plain value: every rule is tested on made-up instants,
/// without a server and without sleeping. Times are seconds on the caller's clock.
public struct LoginState<Credential: Sendable>: Sendable {
    public private(set) var credential: Credential?
    /// When the credential stops being accepted (a JWT's `exp`), when the server says.
    public private(set) var expires: Double?
    public private(set) var loggedInAt: Double?
    /// Counts logins; a request remembers the one it was signed with (`RequestTicket`).
    public private(set) var generation = 0

    /// A 401 this soon after a login is a request that was in flight with the old credential:
    /// it is retried with the new one, not answered with yet another login.
    public static var settling: Double { 0.5 }

    public init() {}

    /// How long before `expires` a new credential is fetched: a tenth of its life, at most a minute.
    public var margin: Double {
        guard let expires, let loggedInAt else { return 60 }
        return min(60, max(0, (expires - loggedInAt) / 10))
    }

    /// The credential to sign a request with at `now`, or nil when a login must come first.
    public func usable(at now: Double) -> Credential? {
        guard let credential else { return nil }
        if let expires, expires - now <= margin { return nil }
        return credential
    }

    /// After a 401 at `now` for a request signed with login `used` (nil: not known): whether to
    /// log in again, or just retry with the credential there is now.
    public func needsLogin(afterRejectionOf used: Int?, at now: Double) -> Bool {
        guard credential != nil else { return true }
        // Another request has logged in again since this one was signed.
        if let used { return used >= generation }
        if let loggedInAt, now - loggedInAt < Self.settling { return false }
        return true
    }

    /// Forgets the credential (it was refused).
    public mutating func drop() { credential = nil }

    /// A login succeeded at `now`.
    public mutating func loggedIn(_ credential: Credential, expires: Double?, at now: Double) {
        self.credential = credential
        self.expires = expires
        loggedInAt = now
        generation += 1
    }
}

/// A platform's login: how to get a credential and how to sign a request with it.
public protocol LoginProtocol: Sendable {
    associatedtype Credential: Sendable
    /// Logs in through `session` (use `SourceSession.login`); returns the credential and, when
    /// the server says, when it expires (seconds since 1970).
    func logIn(through session: SourceSession) async throws -> (Credential, expires: Double?)
    /// Adds the credential to a request.
    func sign(_ request: inout HTTPRequest, with credential: Credential)
}

/// The one session login of every platform that logs in (XNAT's JSESSION, LORIS's JWT): logs
/// in before the first request and shortly before the credential expires, again after a 401,
/// and concurrent requests that saw the same 401 share one login. The rules are `LoginState`'s.
public actor SessionLogin<Login: LoginProtocol>: Authenticator {
    private let login: Login
    private let sessionRef: SessionRef
    private let clock: @Sendable () -> Double
    private var state = LoginState<Login.Credential>()
    private var inflight: Task<(Login.Credential, expires: Double?), any Error>?

    /// `clock`: seconds, wall clock by default (expiry times are wall-clock times).
    public init(_ login: Login, session: SessionRef, clock: @escaping @Sendable () -> Double = { Timestamp.now }) {
        self.login = login
        self.sessionRef = session
        self.clock = clock
    }

    public func authorize(_ request: inout HTTPRequest) async throws {
        let credential: Login.Credential
        if let current = state.usable(at: clock()) { credential = current } else { credential = try await logIn() }
        RequestTicket.current?.generation = state.generation
        login.sign(&request, with: credential)
    }

    public func refresh() async throws {
        if inflight != nil { _ = try await logIn(); return }
        guard state.needsLogin(afterRejectionOf: RequestTicket.current?.generation, at: clock()) else { return }
        state.drop()
        _ = try await logIn()
    }

    /// The login generation so far (for tests).
    public var generation: Int { state.generation }

    /// Logs in, or joins the login already under way.
    private func logIn() async throws -> Login.Credential {
        if let inflight { return try await inflight.value.0 }
        guard let session = sessionRef.value else { throw ConnectorError.local("a login was used before its session was attached") }
        let task = Task { [login] in try await login.logIn(through: session) }
        inflight = task
        defer { inflight = nil }
        let (credential, expires) = try await task.value
        state.loggedIn(credential, expires: expires, at: clock())
        return credential
    }
}

extension SourceSession {
    /// Sends a login request with the source's retry rules, outside its concurrency slots (a
    /// login happens while a request already holds one: taking another could deadlock).
    /// A status in `refused` means wrong credentials: final, never retried, reported as
    /// `ConnectorError.authentication` in our words. Returns the 2xx answer.
    public func login(_ request: HTTPRequest, platform: String, refused: Set<Int> = [401, 403]) async throws -> HTTPResponse {
        struct Refused: Error { var status: Int; var locked: Bool }
        var request = request
        if let seconds = spec.timeoutSeconds, request.timeout == nil { request.timeout = .seconds(seconds) }
        let prepared = request
        do {
            return try await withRetries(url: request.url) { [self] in
                let response: HTTPResponse
                do { response = try await http.send(prepared) } catch let error as HTTPError {
                    throw ConnectorError.transport(error, url: prepared.url)
                }
                // Thrown outside ConnectorError so that no retry loop logs in again.
                if refused.contains(response.status) {
                    throw Refused(status: response.status, locked: Self.saysLocked(response.body))
                }
                guard response.isSuccess else {
                    throw ConnectorError.status(response.status, url: prepared.url, message: "",
                                                retryAfter: RetryPolicy.parseRetryAfter(response.headers.first("Retry-After")))
                }
                return response
            }
        } catch let refused as Refused {
            // A locked account refuses the right password too: "check the credentials" would send
            // the user to try again, and each try may keep it locked.
            let advice = refused.locked
                ? "; it says the account is locked: wait for the lock to lift or ask the platform's administrators, "
                    + "then check the source's credentials (each failed login may extend the lock)"
                : ": check the source's credentials"
            throw ConnectorError.authentication("\(platform) at \(URLText.redacted(prepared.url)) refused the login "
                                                + "(HTTP \(refused.status))\(advice)")
        }
    }

    /// Whether a refusal's body (its first 4 KiB; never shown) says the account is locked.
    static func saysLocked(_ body: [UInt8]) -> Bool {
        let text = String(decoding: body.prefix(4096), as: UTF8.self).lowercased()
        return text.contains("account locked") || text.contains("account is locked") || text.contains("locked out")
    }
}
