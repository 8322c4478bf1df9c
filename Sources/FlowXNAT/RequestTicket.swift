import Foundation
import FlowConnector
import FlowHTTP

/// Which login a request was sent with. Each request runs with its own ticket (a task-local), so
/// after a 401 the login can tell "my token is stale: log in again" from "another request has
/// already logged in again since my token was issued: just retry".
final class RequestTicket: @unchecked Sendable {
    @TaskLocal static var current: RequestTicket?

    private let lock = NSLock()
    private var value: Int?
    /// The login generation the request's credentials came from.
    var generation: Int? {
        get { lock.withLock { value } }
        set { lock.withLock { value = newValue } }
    }

    /// Runs one request (with its retries) under a fresh ticket.
    static func with<T>(_ body: () async throws -> T) async rethrows -> T {
        try await $current.withValue(RequestTicket()) { try await body() }
    }
}

extension SourceSession {
    /// `send`, under a fresh `RequestTicket`.
    func request(_ request: HTTPRequest, accept: Set<Int> = []) async throws -> HTTPResponse {
        try await RequestTicket.with { try await send(request, accept: accept) }
    }

    /// `download`, under a fresh `RequestTicket`.
    func ticketedDownload(_ request: HTTPRequest, to partPath: String, resume: Bool, digests: Set<DigestAlgorithm>,
                          progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        try await RequestTicket.with { try await download(request, to: partPath, resume: resume, digests: digests, progress: progress) }
    }
}
