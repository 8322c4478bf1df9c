import FlowFiles
import Foundation
import FlowHTTP
import FlowModel

/// Adds credentials to requests and logs in again when the server says they expired.
public protocol Authenticator: Sendable {
    /// Adds credentials (header, cookie) to a request, logging in first if needed.
    func authorize(_ request: inout HTTPRequest) async throws
    /// Drops the current session and logs in again (after a 401).
    func refresh() async throws
}

/// The HTTP side of one source: a client configured from the source's TLS/netrc/timeout
/// settings, its concurrency and rate limits, retries and re-authentication. Connectors make
/// every request through it, so limits and retry rules hold for listing and transfers alike.
/// Who hears of the requests a session retries within the current task: the executor sets it
/// around each task, so a run's record shows the waits inside a task (a 503 on a poll), not only
/// the task's own retries. Unset (listing, tests), nobody is told.
public enum RequestRetries {
    /// Told of the delay before the next attempt and the error that caused it.
    @TaskLocal public static var observer: RetryObserver?
}

/// A retry listener in a class: Swift 6.3.1's release builds pass no type metadata for a task-local
/// of optional function type (`swift_task_localValuePush` read through a null pointer: every
/// release `flowctl run` crashed on its first task).
public final class RetryObserver: Sendable {
    public let call: @Sendable (_ delaySeconds: Double, _ reason: String) -> Void
    public init(_ call: @escaping @Sendable (_ delaySeconds: Double, _ reason: String) -> Void) { self.call = call }
}

public final class SourceSession: Sendable {
    public let spec: SourceSpec
    public let http: HTTPClient
    public let limits: SourceLimits
    public let retry: RetryPolicy
    public let auth: (any Authenticator)?

    public init(spec: SourceSpec, auth: (any Authenticator)? = nil, http: HTTPClient? = nil) throws {
        Self.registerSecrets(of: spec)
        self.spec = spec
        self.auth = auth
        self.limits = SourceLimits(concurrency: spec.concurrency, ratePerSecond: spec.ratePerSecond)
        self.retry = RetryPolicy(spec.retry)
        if let http {
            self.http = http
        } else {
            self.http = try HTTPClient(configuration: SourceSession.configuration(for: spec))
        }
    }

    /// Keeps the source's credentials out of every error text (`SecretValues`): each secret, and
    /// the Basic token a user and password (or an alias token and its secret) make.
    static func registerSecrets(of spec: SourceSpec) {
        for (key, secret) in spec.credentials where key != "user" { SecretValues.register(secret.revealed) }
        for (name, password) in [("user", "password"), ("token", "secret")] {
            if let name = spec.credentials[name]?.revealed, let password = spec.credentials[password]?.revealed {
                SecretValues.register(Data("\(name):\(password)".utf8).base64EncodedString())
            }
        }
    }

    /// The HTTP client settings a source asks for.
    public static func configuration(for spec: SourceSpec) -> HTTPClientConfiguration {
        var config = HTTPClientConfiguration()
        config.caBundlePath = spec.tls.caBundle
        if spec.tls.insecure { config.insecureOrigin = spec.url }
        if spec.netrc { config.netrcOrigin = spec.url }
        if let stall = spec.stallSeconds { config.lowSpeedTime = .milliseconds(Int64(max(1, stall) * 1000)) }
        if let size = spec.maxFileSize { config.maxDownloadSize = size }
        config.maxConnectionsPerHost = max(spec.concurrency, 2)
        config.maxConnections = max(spec.concurrency * 2, 8)
        return config
    }

    /// Absolute URL of a path on this source.
    public func url(_ path: String) -> String { URLText.join(spec.url, path) }

    /// Sends an API request with the source's limits, retries and one re-login on 401.
    /// Returns 2xx responses; other statuses (after retries) throw `ConnectorError.status`.
    public func send(_ request: HTTPRequest, accept: Set<Int> = []) async throws -> HTTPResponse {
        try await withRetries(url: request.url) { [self] in
            var request = request
            if spec.timeoutSeconds != nil, request.timeout == nil { request.timeout = .seconds(spec.timeoutSeconds!) }
            let response: HTTPResponse
            let unsigned = request
            do {
                // Credentials are added once a slot is held, so a request that queued behind
                // others never carries a token that expired while it waited.
                response = try await limits.run {
                    try await self.http.send(try await self.signed(unsigned))
                }
            } catch let error as HTTPError {
                throw ConnectorError.transport(error, url: request.url)
            }
            if response.isSuccess || accept.contains(response.status) { return response }
            // The status says what happened; a reply's body is the server's text, never ours to print.
            throw ConnectorError.status(response.status, url: request.url, message: "",
                                        retryAfter: RetryPolicy.parseRetryAfter(response.headers.first("Retry-After")))
        }
    }

    /// GET a path and decode its JSON.
    public func json<T: Decodable>(_ type: T.Type, _ path: String, headers: HTTPHeaders = [:]) async throws -> T {
        let response = try await send(HTTPRequest(url: url(path), headers: headers))
        return try Self.decode(type, response.body, from: path)
    }

    /// Decodes JSON, turning a decoding failure into a clear `badReply`.
    public static func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8], from what: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(body))
        } catch let error as DecodingError {
            throw ConnectorError.badReply("\(what): \(describe(error))")
        } catch {
            throw ConnectorError.badReply("\(what): not readable JSON")
        }
    }

    /// Fetches an item's bytes to `partPath` in one attempt: hashed with sha256 and every digest
    /// the listing gave, and stopped at once past its listed size. Checking size and digests is
    /// the executor's, which knows whether a mismatch is a damaged transfer or drift from a lock.
    /// `ticketed`: through the platform's login tickets (see `RequestTicket`).
    public func fetch(_ item: RemoteItem, to partPath: String, resume: Bool, unnamed: Bool, ticketed: Bool = false,
                      progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        var request = HTTPRequest(url: item.url)
        request.expectedSize = item.size
        let digests = Set(item.checksums.compactMap { DigestAlgorithm(rawValue: $0.algorithm.rawValue) }).union([.sha256])
        let download = { [self] in
            try await self.download(request, to: partPath, resume: resume, unnamed: unnamed, digests: digests, progress: progress)
        }
        return ticketed ? try await RequestTicket.with(download) : try await download()
    }

    /// Downloads to a `.part` file in one attempt (the executor retries), with one re-login on 401.
    public func download(_ request: HTTPRequest, to partPath: String, resume: Bool, unnamed: Bool = false,
                         digests: Set<DigestAlgorithm>, progress: (@Sendable (Int64) -> Void)?) async throws -> FetchResult {
        var reauthenticated = false
        while true {
            let unsigned = request
            let result: DownloadResult
            do {
                result = try await limits.run {
                    try await self.http.download(try await self.signed(unsigned), to: partPath, resume: resume, unnamed: unnamed, digests: digests,
                                                         progress: progress)
                }
            } catch let error as HTTPError {
                if case .fileSystem = error { throw ConnectorError.local(error.description) }
                if case .bodyTooLarge(let limit) = error, let listed = request.expectedSize {
                    throw ConnectorError.integrity("the server sent more than the \(listed) bytes listed" + (listed == limit ? "" : " (limit \(limit))"))
                }
                throw ConnectorError.transport(error, url: request.url)
            }
            if result.status == 401, let auth, !reauthenticated {
                reauthenticated = true
                try await auth.refresh()
                continue
            }
            guard result.isSuccess else {
                throw ConnectorError.status(result.status, url: request.url, message: "",
                                            retryAfter: RetryPolicy.parseRetryAfter(result.headers.first("Retry-After")))
            }
            let checksums = result.digests.map { Checksum(ChecksumAlgorithm(rawValue: $0.key.rawValue)!, $0.value) }
                .sorted { $0.algorithm < $1.algorithm }
            return FetchResult(bytesTransferred: result.bytesWritten, fileSize: result.fileSize, checksums: checksums,
                               version: result.headers.first("ETag"), resumed: result.resumed, unnamedFile: result.unnamedFile)
        }
    }

    /// Streams a 2xx body to `consume` in one attempt (the executor retries), with one re-login on
    /// 401; returns the bytes consumed. An error `consume` throws comes back as it was thrown.
    public func stream(_ request: HTTPRequest, maxBytes: Int64,
                       consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> Int64 {
        var reauthenticated = false
        while true {
            let unsigned = request
            let result: StreamResult
            do {
                result = try await limits.run {
                    try await self.http.stream(try await self.signed(unsigned), maxBytes: maxBytes, consume: consume)
                }
            } catch let error as HTTPError {
                throw ConnectorError.transport(error, url: request.url)
            }
            if result.status == 401, let auth, !reauthenticated {
                reauthenticated = true
                try await auth.refresh()
                continue
            }
            guard (200..<300).contains(result.status) else {
                throw ConnectorError.status(result.status, url: request.url, message: "",
                                            retryAfter: RetryPolicy.parseRetryAfter(result.headers.first("Retry-After")))
            }
            return result.bytes
        }
    }

    /// `request` with the source's credentials, when it goes to the source's own origin: a URL
    /// a server handed us (a file's URI, a link) that points elsewhere gets none.
    func signed(_ request: HTTPRequest) async throws -> HTTPRequest {
        guard let auth, HTTPClient.isSameOrigin(request.url, spec.url) else { return request }
        var signed = request
        try await auth.authorize(&signed)
        return signed
    }

    /// Runs `attempt` until it succeeds or the retry policy gives up.
    public func withRetries<T: Sendable>(url: String, _ attempt: @Sendable () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        // Two logins per request at most: a session can expire again while a busy request waits
        // (seen with short-lived sandbox sessions); refused credentials fail at the login itself.
        var logins = 0
        var number = 0
        while true {
            number += 1
            do {
                return try await attempt()
            } catch let error as ConnectorError {
                let elapsed = start.duration(to: .now)
                let decision = retry.decide(attempt: number, elapsed: Double(elapsed.components.seconds),
                                            failure: error.retryFailure, retryAfter: error.retryAfter,
                                            alreadyReauthenticated: logins >= 2 || auth == nil,
                                            jitter: Double.random(in: 0..<1))
                switch decision {
                case .retry(let seconds):
                    RequestRetries.observer?.call(seconds, "\(error)")
                    try await Task.sleep(for: .seconds(seconds))
                case .reauthenticate:
                    logins += 1
                    try await auth?.refresh()
                case .giveUp:
                    if case .status(401, _, _, _) = error { throw ConnectorError.authentication("\(URLText.redacted(url)) answered 401") }
                    throw error
                }
            }
        }
    }

    /// A short, single-line, printable summary of an error body (HTML pages reduced to their text),
    /// for recognising a platform's known answers; never for a message (`ErrorText` quotes).
    public static func summary(of body: [UInt8], limit: Int = 200) -> String {
        var text = String(decoding: body.prefix(4096), as: UTF8.self)
        if text.contains("<") {
            // XNAT and Tomcat answer errors as HTML pages; keep the words.
            if let h3 = text.range(of: "<h3>"), let end = text.range(of: "</h3>", range: h3.upperBound..<text.endIndex) {
                text = String(text[h3.upperBound..<end.lowerBound])
            }
            text = text.replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
        }
        let words = text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : String($0) }.joined()
            .split(separator: " ").joined(separator: " ")
        return words.count > limit ? String(words.prefix(limit)) + "…" : words
    }

    /// What is wrong with a JSON document, and where (`missing field `size` at .items[3]`).
    public static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field `\(key.stringValue)` at \(path(context.codingPath))"
        case .typeMismatch(let type, let context):
            return "field \(path(context.codingPath)) is not \(type)"
        case .valueNotFound(let type, let context):
            return "field \(path(context.codingPath)) is null, expected \(type)"
        case .dataCorrupted(let context):
            return "not valid JSON (\(context.debugDescription))"
        @unknown default:
            return "\(error)"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "(top)" : keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}
