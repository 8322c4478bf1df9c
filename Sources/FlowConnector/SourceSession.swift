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
public final class SourceSession: Sendable {
    public let spec: SourceSpec
    public let http: HTTPClient
    public let limits: SourceLimits
    public let retry: RetryPolicy
    public let auth: (any Authenticator)?

    public init(spec: SourceSpec, auth: (any Authenticator)? = nil, http: HTTPClient? = nil) throws {
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

    /// The HTTP client settings a source asks for.
    public static func configuration(for spec: SourceSpec) -> HTTPClientConfiguration {
        var config = HTTPClientConfiguration()
        config.caBundlePath = spec.tls.caBundle
        config.insecure = spec.tls.insecure
        config.netrc = spec.netrc
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
                    var signed = unsigned
                    try await self.auth?.authorize(&signed)
                    return try await self.http.send(signed)
                }
            } catch let error as HTTPError {
                throw ConnectorError.transport(error, url: request.url)
            }
            if response.isSuccess || accept.contains(response.status) { return response }
            throw ConnectorError.status(response.status, url: request.url, message: Self.summary(of: response.body),
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
            throw ConnectorError.badReply("\(what): \(describe(error)); body starts \"\(summary(of: body, limit: 120))\"")
        } catch {
            throw ConnectorError.badReply("\(what): \(error)")
        }
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
                    var signed = unsigned
                    try await self.auth?.authorize(&signed)
                    return try await self.http.download(signed, to: partPath, resume: resume, unnamed: unnamed, digests: digests,
                                                         progress: progress)
                }
            } catch let error as HTTPError {
                if case .fileSystem = error { throw ConnectorError.local(error.description) }
                throw ConnectorError.transport(error, url: request.url)
            }
            if result.status == 401, let auth, !reauthenticated {
                reauthenticated = true
                try await auth.refresh()
                continue
            }
            guard result.isSuccess else {
                throw ConnectorError.status(result.status, url: request.url, message: Self.summary(of: result.errorBody),
                                            retryAfter: RetryPolicy.parseRetryAfter(result.headers.first("Retry-After")))
            }
            let checksums = result.digests.map { Checksum(ChecksumAlgorithm(rawValue: $0.key.rawValue)!, $0.value) }
                .sorted { $0.algorithm < $1.algorithm }
            return FetchResult(bytesTransferred: result.bytesWritten, fileSize: result.fileSize, checksums: checksums,
                               version: result.headers.first("ETag"), resumed: result.resumed, unnamedFile: result.unnamedFile)
        }
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

    /// A short, single-line, printable summary of an error body (HTML pages reduced to their text).
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

    static func describe(_ error: DecodingError) -> String {
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
