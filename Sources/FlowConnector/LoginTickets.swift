import Foundation
import FlowHTTP

/// Which login a request was sent with. Each request runs with its own ticket (a task-local), so
/// after a 401 the login can tell "my token is stale: log in again" from "another request has
/// already logged in again since my token was issued: just retry".
public final class RequestTicket: @unchecked Sendable {
    @TaskLocal public static var current: RequestTicket?

    private let lock = NSLock()
    private var value: Int?
    /// The login generation the request's credentials came from.
    public var generation: Int? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }

    /// Runs one request (with its retries) under a fresh ticket.
    public static func with<T>(_ body: () async throws -> T) async rethrows -> T {
        try await $current.withValue(RequestTicket()) { try await body() }
    }
}

extension SourceSession {
    /// `send`, under a fresh `RequestTicket`.
    public func request(_ request: HTTPRequest, accept: Set<Int> = []) async throws -> HTTPResponse {
        try await RequestTicket.with { try await send(request, accept: accept) }
    }
}

/// The session a login runs through. The session owns the login (as its authenticator), so the
/// login holds it weakly; it is set once, right after both exist, before any request.
public final class SessionRef: @unchecked Sendable {
    private let lock = NSLock()
    private weak var session: SourceSession?
    public init() {}
    public var value: SourceSession? {
        get { lock.withLock { session } }
        set { lock.withLock { session = newValue } }
    }
}
