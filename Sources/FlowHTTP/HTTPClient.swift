import FlowFiles
import CCurl
import FlowModel
import Foundation

/// An HTTP client over libcurl's multi interface, driven by one dedicated thread.
///
/// One client holds one connection pool: make one per process (or per TLS setting) and share it.
public final class HTTPClient: Sendable {
    /// The settings every request of this client uses.
    public let configuration: HTTPClientConfiguration
    private let engines: [CurlEngine]

    /// Starts the client's curl threads.
    public init(configuration: HTTPClientConfiguration = HTTPClientConfiguration()) throws {
        self.configuration = configuration
        let count = max(1, configuration.curlThreads)
        var share = configuration
        // The caps hold for the client as a whole: each thread gets its part.
        func part(_ cap: Int) -> Int { cap == 0 ? 0 : (cap + count - 1) / count }
        share.maxConnections = part(configuration.maxConnections)
        share.maxConnectionsPerHost = part(configuration.maxConnectionsPerHost)
        self.engines = try (0..<count).map { _ in try CurlEngine(configuration: share) }
    }

    deinit { for engine in engines { engine.shutdown() } }

    /// Stops the curl threads; running and later requests fail with `HTTPError.cancelled`.
    public func shutdown() { for engine in engines { engine.shutdown() } }

    /// Transfers in flight on each curl thread.
    var loads: [Int] { engines.map(\.inFlight) }

    /// The curl thread with the fewest requests in flight, counted as taken at once (a burst of
    /// requests must not all see the same idle thread); `unclaim()` it when the request is done.
    /// Executors that run tasks on this client's curl threads. A task that prefers one sends its
    /// requests through that thread's engine and resumes there when they end: no thread hop per
    /// request (10,000 small downloads: about 9% less time, see benchmarks/RESULTS.md).
    public var taskExecutors: [any TaskExecutor] { engines }

    private func claimEngine() -> CurlEngine {
        // Called on an engine's own thread: that engine (no wakeup, and the caller resumes here).
        if let current = engines.first(where: \.isCurrentThread) {
            current.claim()
            return current
        }
        var best = engines[0]
        for engine in engines.dropFirst() where engine.inFlight < best.inFlight { best = engine }
        best.claim()
        return best
    }

    /// Sends a request and returns the whole response, whatever its status.
    ///
    /// The body is kept in memory up to `maxResponseBodySize`; a larger one throws `.bodyTooLarge`.
    /// Follows redirects (dropping credential headers when the origin changes).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let limit = request.maxResponseBodySize ?? configuration.maxResponseBodySize
        var request = request
        var hops = 0
        while true {
            let engine = claimEngine()
            defer { engine.unclaim() }
            let transfer = try makeTransfer(request, on: engine, sink: .memory(limit: limit), maxBody: Int64(limit))
            try await engine.perform(transfer)
            if let next = try nextHop(after: transfer, of: request, hops: &hops) {
                request = next
                continue
            }
            return HTTPResponse(status: transfer.status, headers: transfer.headers, body: transfer.body,
                                effectiveURL: transfer.effectiveURL)
        }
    }

    /// Hands a 2xx response body to `consume` piece by piece as it arrives (on a curl thread:
    /// keep it quick), never holding the body; an error `consume` throws stops the transfer and
    /// is rethrown. A non-2xx answer comes back with its beginning in `body` and nothing consumed.
    /// Asks for `identity` (an encoded body is refused); at most `maxBytes` body bytes.
    public func stream(_ request: HTTPRequest, maxBytes: Int64,
                       consume: @escaping @Sendable (UnsafeRawBufferPointer) throws -> Void) async throws -> StreamResult {
        var request = request
        request.headers.replaceOrAdd(name: "Accept-Encoding", value: "identity")
        var hops = 0
        while true {
            let engine = claimEngine()
            defer { engine.unclaim() }
            let sink = StreamSink(consume: consume)
            let transfer = try makeTransfer(request, on: engine, sink: .stream(sink), maxBody: maxBytes)
            do { try await engine.perform(transfer) } catch {
                // The consumer's own reason beats curl's "write error".
                if let failure = sink.failure { throw failure }
                throw error
            }
            if let next = try nextHop(after: transfer, of: request, hops: &hops) {
                request = next
                continue
            }
            return StreamResult(status: transfer.status, headers: transfer.headers, bytes: sink.received,
                                errorBody: transfer.isSuccessStatus ? [] : transfer.body)
        }
    }

    /// Streams a response body into `partPath`, hashing it on the way; never holds it in memory.
    ///
    /// With `resume` and an existing `partPath` of N bytes, asks for `Range: bytes=N-`: a 206
    /// appends, a 200 truncates and starts clean, a 416 is returned as is. A non-2xx body is never
    /// written to the file (see `DownloadResult.errorBody`). `progress` gets the bytes written by
    /// this transfer so far; it runs on the curl thread, so keep it cheap. No fsync: see `FileSync`.
    ///
    /// `unnamed`: when there is nothing to resume, write an `UnnamedFile` in `partPath`'s folder
    /// instead (returned as `DownloadResult.unnamedFile`; `partPath` is not created). A body over
    /// `UnnamedFile.sizeLimit` or of unknown length is named `partPath` as it starts, and where
    /// the file system has no unnamed files, the body goes to `partPath` as usual.
    public func download(_ request: HTTPRequest, to partPath: String, resume: Bool = true, unnamed: Bool = false,
                         digests: Set<DigestAlgorithm> = [.sha256],
                         progress: (@Sendable (Int64) -> Void)? = nil) async throws -> DownloadResult {
        var existing: Int64 = 0
        var info = stat()
        if resume, stat(partPath, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG { existing = Int64(info.st_size) }
        var prefix: Hashers?  // hashes of the bytes already in the file
        var request = request
        // The resource's own bytes: a body encoded on the way is refused (see `Transfer`).
        request.headers.replaceOrAdd(name: "Accept-Encoding", value: "identity")
        if existing > 0 {
            prefix = try await Self.hashPrefix(of: partPath, length: existing, into: Hashers(digests))
            request.headers.replaceOrAdd(name: "Range", value: "bytes=\(existing)-")
            // The rest only if the file is still the one the prefix came from; else all of it (200).
            if let validator = PartValidator.read(partPath) { request.headers.replaceOrAdd(name: "If-Range", value: validator) }
        }
        var hops = 0
        var createdPart = false  // by the first hop: then nothing else has written it
        while true {
            let engine = claimEngine()
            defer { engine.unclaim() }
            let file = try FileSink(path: partPath, unnamed: unnamed, resumeFrom: existing, prefixHashers: prefix,
                                    freshHashers: Hashers(digests), pipeline: engine.bodies, progress: progress)
            if hops == 0 { createdPart = file.created && file.unnamed == nil }
            let transfer = try makeTransfer(request, on: engine, sink: .file(file),
                                            maxBody: request.expectedSize ?? configuration.maxDownloadSize)
            try await engine.perform(transfer)
            if let next = try nextHop(after: transfer, of: request, hops: &hops) {
                request = next
                continue
            }
            guard transfer.isSuccessStatus else {
                // The file was opened before the answer came: leave no trace of one that did not exist.
                if createdPart { unlink(partPath) }
                return DownloadResult(status: transfer.status, headers: transfer.headers, bytesWritten: 0,
                                      fileSize: existing, resumed: false, digests: [:], errorBody: transfer.body,
                                      effectiveURL: transfer.effectiveURL)
            }
            if !file.started {
                // An empty body: a 206 keeps the prefix, anything else leaves an empty file.
                if transfer.status == 206, existing > 0, let prefix {
                    file.appended = true
                    file.hashers = prefix
                } else if file.unnamed == nil, !createdPart, truncate(partPath, 0) != 0 {
                    throw HTTPError.fileSystem(path: partPath, errno: errno, message: errnoMessage(errno))
                }
            }
            if file.unnamed == nil { PartValidator.remove(from: partPath) }  // whole now: nothing left to resume
            return DownloadResult(status: transfer.status, headers: transfer.headers, bytesWritten: file.bytesWritten,
                                  fileSize: (file.appended ? existing : 0) + file.bytesWritten, resumed: file.appended,
                                  digests: file.hashers.finalize(), errorBody: [],
                                  effectiveURL: transfer.effectiveURL, unnamedFile: file.unnamed)
        }
    }

    // MARK: building transfers

    private func makeTransfer(_ request: HTTPRequest, on engine: CurlEngine, sink: Transfer.Sink,
                              maxBody: Int64) throws -> Transfer {
        let transfer = Transfer(easy: try engine.makeEasyHandle(), sink: sink, maxBody: maxBody)
        do {
            try configure(transfer, request)
        } catch {
            engine.discard(transfer.easy)
            throw error
        }
        return transfer
    }

    /// Sets every option of one hop. Runs in the caller's task: the handle is not shared yet.
    private func configure(_ transfer: Transfer, _ request: HTTPRequest) throws(HTTPError) {
        let easy = transfer.easy
        let config = configuration
        func set(_ option: CURLoption, _ value: Int) { _ = flow_easy_setopt_long(easy, option, value) }
        func set(_ option: CURLoption, _ value: String) {
            _ = value.withCString { flow_easy_setopt_ptr(easy, option, $0) } // curl copies strings
        }

        guard !request.url.isEmpty else { throw .other(code: Int(CURLE_URL_MALFORMAT.rawValue), message: "empty URL") }
        set(CURLOPT_URL, request.url)
        // Only the web: never `file:`, `ftp:` or any other scheme curl knows, whatever a job
        // file or a server's redirect says.
        set(CURLOPT_PROTOCOLS_STR, "http,https")
        set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        // A `Content-Length` over the limit fails at once, before a byte of the body is read.
        _ = flow_easy_setopt_off(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(transfer.maxBody))
        set(CURLOPT_NOSIGNAL, 1)  // no SIGALRM for DNS timeouts: we are multithreaded
        set(CURLOPT_FOLLOWLOCATION, 0)  // redirects are followed by `nextHop`, which drops credentials
        set(CURLOPT_HTTP_VERSION, flow_http_version_2tls())
        // Over TLS, prefer waiting for an HTTP/2 connection to opening another. Not on plain
        // http (always HTTP/1.1 here): there curl would hold every request of a burst until the
        // first connection's first answer, one round trip late.
        if request.url.prefix(8).lowercased() == "https://" { set(CURLOPT_PIPEWAIT, 1) }
        set(CURLOPT_TCP_KEEPALIVE, 1)
        _ = flow_easy_setopt_ptr(easy, CURLOPT_ERRORBUFFER, transfer.errorBuffer)
        let me = Unmanaged.passUnretained(transfer).toOpaque()  // the engine retains it while active
        _ = flow_easy_setopt_write_cb(easy, CURLOPT_WRITEFUNCTION, writeCallback)
        _ = flow_easy_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = flow_easy_setopt_write_cb(easy, CURLOPT_HEADERFUNCTION, headerCallback)
        _ = flow_easy_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        switch transfer.sink {
        case .file, .stream:
            set(CURLOPT_BUFFERSIZE, 128 << 10)
        case .memory:
            set(CURLOPT_ACCEPT_ENCODING, "")  // any encoding curl can decode (API answers)
        }

        set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout ?? config.connectTimeout))
        if let timeout = request.timeout { set(CURLOPT_TIMEOUT_MS, milliseconds(timeout)) }
        let lowSpeed = request.lowSpeedLimit ?? config.lowSpeedLimit
        if lowSpeed > 0 {
            set(CURLOPT_LOW_SPEED_LIMIT, lowSpeed)
            set(CURLOPT_LOW_SPEED_TIME, max(1, milliseconds(request.lowSpeedTime ?? config.lowSpeedTime) / 1000))
        }
        if let origin = config.insecureOrigin, Self.isSameOrigin(request.url, origin) {
            set(CURLOPT_SSL_VERIFYPEER, 0)
            set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let ca = config.caBundlePath { set(CURLOPT_CAINFO, ca) }
        if let origin = config.netrcOrigin, Self.isSameOrigin(request.url, origin) {
            set(CURLOPT_NETRC, flow_netrc_optional())
            if let file = config.netrcFile { set(CURLOPT_NETRC_FILE, file) }
        }
        if let proxy = config.proxy { set(CURLOPT_PROXY, proxy) }
        set(CURLOPT_USERAGENT, config.userAgent)

        var headers = request.headers
        try configureMethodAndBody(transfer, request, headers: &headers)
        var list: UnsafeMutablePointer<curl_slist>?
        for (name, value) in headers {
            // "Name;" is curl's way to send a header with an empty value.
            list = curl_slist_append(list, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        transfer.headerList = list
        if let list { _ = flow_easy_setopt_ptr(easy, CURLOPT_HTTPHEADER, list) }
    }

    private func configureMethodAndBody(_ transfer: Transfer, _ request: HTTPRequest,
                                        headers: inout HTTPHeaders) throws(HTTPError) {
        let easy = transfer.easy
        let method = request.method.uppercased()
        func set(_ option: CURLoption, _ value: Int) { _ = flow_easy_setopt_long(easy, option, value) }
        func setCustomMethod() { _ = method.withCString { flow_easy_setopt_ptr(easy, CURLOPT_CUSTOMREQUEST, $0) } }
        func attach(_ source: UploadSource) {
            transfer.uploads.append(source)
            let raw = Unmanaged.passUnretained(source).toOpaque()
            _ = flow_easy_setopt_read_cb(easy, readCallback)
            _ = flow_easy_setopt_ptr(easy, CURLOPT_READDATA, raw)
            _ = flow_easy_setopt_seek_cb(easy, seekCallback)
            _ = flow_easy_setopt_ptr(easy, CURLOPT_SEEKDATA, raw)
        }

        func attachUpload(_ source: UploadSource) {
            attach(source)
            if method == "POST" {
                set(CURLOPT_POST, 1)
                _ = flow_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(source.length))
            } else {
                set(CURLOPT_UPLOAD, 1)
                _ = flow_easy_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(source.length))
                if method != "PUT" { setCustomMethod() }
            }
            // No `Expect: 100-continue` round trip: our servers answer errors before reading anyway.
            headers.replaceOrAdd(name: "Expect", value: "")
        }

        switch request.body {
        case nil:
            switch method {
            case "GET": break
            case "HEAD": set(CURLOPT_NOBODY, 1)
            case "POST":
                set(CURLOPT_POST, 1)
                _ = flow_easy_setopt_off(easy, CURLOPT_POSTFIELDSIZE_LARGE, 0)
            default: setCustomMethod()
            }
        case .bytes(let bytes):
            attachUpload(UploadSource(bytes: bytes, digest: request.bodyDigest))
        case .file(let path, let offset, let length):
            try attachUpload(UploadSource(path: path, offset: offset, length: length, digest: request.bodyDigest))
        case .multipart(let parts):
            guard let mime = curl_mime_init(easy) else { throw .other(code: -1, message: "curl_mime_init failed") }
            transfer.mime = mime
            for part in parts {
                guard let mimePart = curl_mime_addpart(mime) else { throw .other(code: -1, message: "curl_mime_addpart failed") }
                curl_mime_name(mimePart, part.name)
                switch part.content {
                case .text(let text):
                    var utf8 = Array(text.utf8)
                    curl_mime_data(mimePart, &utf8, utf8.count)  // curl copies the data
                    if let filename = part.filename { curl_mime_filename(mimePart, filename) }
                case .bytes(let bytes):
                    _ = bytes.withUnsafeBufferPointer { curl_mime_data(mimePart, $0.baseAddress, $0.count) }
                    if let filename = part.filename { curl_mime_filename(mimePart, filename) }
                case .file(let path, let offset, let length):
                    let source = try UploadSource(path: path, offset: offset, length: length, digest: request.bodyDigest)
                    transfer.uploads.append(source)
                    curl_mime_data_cb(mimePart, curl_off_t(source.length), readCallback, seekCallback, nil,
                                      Unmanaged.passUnretained(source).toOpaque())
                    let filename = part.filename ?? String(path.split(separator: "/").last ?? "file")
                    curl_mime_filename(mimePart, filename)
                }
                if let type = part.contentType { curl_mime_type(mimePart, type) }
            }
            _ = flow_easy_setopt_ptr(easy, CURLOPT_MIMEPOST, UnsafeRawPointer(mime))
            if method != "POST" { setCustomMethod() }
            headers.replaceOrAdd(name: "Expect", value: "")
        }
    }

    // MARK: redirects

    /// The request for the next redirect hop, or nil when `transfer` is the final answer.
    /// Only http and https are followed, and at most `maxRedirects` hops (`hops` counts them).
    private func nextHop(after transfer: Transfer, of request: HTTPRequest, hops: inout Int) throws(HTTPError) -> HTTPRequest? {
        guard request.followRedirects, [301, 302, 303, 307, 308].contains(transfer.status),
              let target = transfer.redirectURL else { return nil }
        hops += 1
        guard hops <= configuration.maxRedirects else { throw .tooManyRedirects(configuration.maxRedirects) }
        let scheme = Origin(target).scheme
        guard scheme == "http" || scheme == "https" else {
            throw .refusedRedirect("\(ErrorText.quoted(scheme ?? "?")) URL from \(ErrorText.quoted(Origin(request.url).description))")
        }
        var next = request
        next.url = target
        let method = request.method.uppercased()
        if (transfer.status == 303 && method != "HEAD") || ((transfer.status == 301 || transfer.status == 302) && method == "POST") {
            next.method = "GET"
            next.body = nil
            next.headers.remove(name: "Content-Type")
            next.headers.remove(name: "Content-Length")
        }
        if Origin(request.url) != Origin(target) {
            // A body kept across the hop (307/308) would go to an origin it was never addressed to:
            // a login's password (LORIS posts it as JSON), or a participant's file.
            if next.body != nil {
                throw .refusedRedirect("a \(method) with a body from \(ErrorText.quoted(Origin(request.url).description)) "
                                       + "to another origin, \(ErrorText.quoted(Origin(target).description))")
            }
            // Never hand credentials to another host (e.g. a presigned S3 URL), nor over a
            // downgraded scheme or to another port. (netrc's are kept to their origin in `configure`.)
            for name in configuration.credentialHeaderNames { next.headers.remove(name: name) }
        }
        return next
    }

    // MARK: helpers

    /// Blocking reads: on a Dispatch thread, not the cooperative pool nor the curl thread.
    private static func hashPrefix(of path: String, length: Int64, into hashers: Hashers) async throws -> Hashers {
        try await offThePool {
            var hashers = hashers
            try hashers.hashPrefix(of: path, length: length)
            return hashers
        }
    }
}

private func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
}

extension HTTPClient {
    /// Whether two URLs share scheme, host and port (as curl parses them): credentials given
    /// for one may go to the other.
    public static func isSameOrigin(_ a: String, _ b: String) -> Bool {
        let origin = Origin(a)
        return origin.host != nil && origin == Origin(b)
    }
}

/// Scheme, host and port of a URL, parsed by curl (default ports filled in).
struct Origin: Equatable {
    var scheme: String?
    var host: String?
    var port: String?

    init(_ url: String) {
        guard let handle = curl_url() else { return }
        defer { curl_url_cleanup(handle) }
        guard curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK else { return }
        func part(_ which: CURLUPart, _ flags: UInt32) -> String? {
            var out: UnsafeMutablePointer<CChar>?
            guard curl_url_get(handle, which, &out, flags) == CURLUE_OK, let out else { return nil }
            defer { curl_free(out) }
            return String(cString: out).lowercased()
        }
        scheme = part(CURLUPART_SCHEME, 0)
        host = part(CURLUPART_HOST, 0)
        port = part(CURLUPART_PORT, UInt32(CURLU_DEFAULT_PORT))
    }

    /// `scheme://host:port`, for messages.
    var description: String { "\(scheme ?? "?")://\(host ?? "?"):\(port ?? "?")" }
}

// MARK: C callbacks (curl calls them on the curl thread)

private let writeCallback: curl_write_callback = { data, size, count, user in
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count))
}

private let headerCallback: curl_write_callback = { data, size, count, user in
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

private let readCallback: curl_read_callback = { buffer, size, count, user in
    let source = Unmanaged<UploadSource>.fromOpaque(user!).takeUnretainedValue()
    return source.read(into: buffer!, capacity: size * count)
}

private let seekCallback: curl_seek_callback = { user, offset, origin in
    let source = Unmanaged<UploadSource>.fromOpaque(user!).takeUnretainedValue()
    return source.seek(to: Int64(offset), origin: origin)
}
