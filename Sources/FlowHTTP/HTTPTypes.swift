// Value types of the FlowHTTP API: requests, responses, headers, configuration.
import FlowFiles
import Foundation

/// An ordered list of HTTP header fields with case-insensitive lookup.
public struct HTTPHeaders: Sendable, Equatable, ExpressibleByDictionaryLiteral, Sequence, CustomStringConvertible {
    /// The fields in the order they were added or received.
    public private(set) var fields: [(name: String, value: String)]

    /// Creates headers from ordered name/value pairs.
    public init(_ fields: [(name: String, value: String)] = []) {
        self.fields = fields
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.fields = elements.map { (name: $0.0, value: $0.1) }
    }

    /// Appends a field (a name may occur several times).
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every field called `name` by a single one.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every field called `name` (case-insensitive).
    public mutating func remove(name: String) {
        fields.removeAll { Self.same($0.name, name) }
    }

    /// The first value of the field `name` (case-insensitive), if any.
    public func first(_ name: String) -> String? {
        fields.first { Self.same($0.name, name) }?.value
    }

    /// Every value of the field `name` (case-insensitive), in order.
    public func values(_ name: String) -> [String] {
        fields.filter { Self.same($0.name, name) }.map(\.value)
    }

    /// Whether a field called `name` is present.
    public func contains(_ name: String) -> Bool { first(name) != nil }

    public subscript(_ name: String) -> String? { first(name) }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { Self.same($0.name, $1.name) && $0.value == $1.value }
    }

    /// Names only: header values may carry credentials and are never printed.
    public var description: String {
        "HTTPHeaders(" + fields.map(\.name).joined(separator: ", ") + ")"
    }

    /// Case-insensitive name equality: byte by byte for ASCII (every real header name), without
    /// the two `lowercased()` copies per comparison that a lookup in a response used to make.
    static func same(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        for (x, y) in zip(a.utf8, b.utf8) where x != y {
            if x >= 0x80 || y >= 0x80 { return a.lowercased() == b.lowercased() }
            let folded = x | 0x20
            guard folded == y | 0x20, folded >= UInt8(ascii: "a"), folded <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}

/// One part of a `multipart/form-data` body.
public struct MultipartPart: Sendable {
    /// Where a part's bytes come from.
    public enum Content: Sendable {
        /// A short text value.
        case text(String)
        /// Bytes held in memory.
        case bytes([UInt8])
        /// A slice of a file, streamed from disk (`length: nil` means to the end of the file).
        case file(path: String, offset: Int64 = 0, length: Int64? = nil)
    }

    public var name: String
    public var content: Content
    /// The `filename=` of the part (file parts default to the file's last path component).
    public var filename: String?
    public var contentType: String?

    /// Creates a part named `name` (the form field name).
    public init(name: String, content: Content, filename: String? = nil, contentType: String? = nil) {
        self.name = name
        self.content = content
        self.filename = filename
        self.contentType = contentType
    }
}

/// The body of a request.
public enum HTTPRequestBody: Sendable {
    /// Bytes held in memory.
    case bytes([UInt8])
    /// A slice of a file, streamed from disk (`length: nil` means to the end of the file).
    case file(path: String, offset: Int64 = 0, length: Int64? = nil)
    /// A `multipart/form-data` body built by curl; file parts are streamed from disk.
    case multipart([MultipartPart])
}

/// An HTTP request.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: HTTPHeaders
    public var body: HTTPRequestBody?
    /// Total time allowed for one attempt (each redirect hop gets its own); nil: no limit.
    public var timeout: Duration?
    /// Overrides `HTTPClientConfiguration.connectTimeout`.
    public var connectTimeout: Duration?
    /// Overrides the configuration's stall detection (bytes/s below which for `lowSpeedTime` fails).
    public var lowSpeedLimit: Int?
    public var lowSpeedTime: Duration?
    /// Overrides `HTTPClientConfiguration.maxResponseBodySize` for `send`.
    public var maxResponseBodySize: Int?
    /// A download's size as listed: a body that announces or streams more stops at once
    /// (`.bodyTooLarge`) instead of filling the disk. Nil: `maxDownloadSize` caps it.
    public var expectedSize: Int64?
    /// Follow 3xx redirects (credential headers are dropped when the origin changes).
    public var followRedirects: Bool
    /// Hashes a `.bytes` or `.file` body, or a multipart body's file part (one), as it is sent
    /// (see `RequestBodyDigest`).
    public var bodyDigest: RequestBodyDigest?

    /// Creates a request; `method` defaults to GET.
    public init(method: String = "GET", url: String, headers: HTTPHeaders = [:], body: HTTPRequestBody? = nil,
                timeout: Duration? = nil, followRedirects: Bool = true) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.followRedirects = followRedirects
    }
}

/// A complete response held in memory (see `HTTPClient.send`).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The URL that answered, after redirects.
    public var effectiveURL: String

    public init(status: Int, headers: HTTPHeaders, body: [UInt8], effectiveURL: String) {
        self.status = status
        self.headers = headers
        self.body = body
        self.effectiveURL = effectiveURL
    }

    /// Whether the status is 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }
    /// The body decoded as UTF-8 (invalid bytes replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }
}


/// The outcome of `HTTPClient.stream`: any HTTP status (transport failures throw instead).
public struct StreamResult: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    /// Body bytes handed to the consumer.
    public var bytes: Int64
    /// The beginning of a non-2xx body (nothing was consumed then).
    public var errorBody: [UInt8]
    public init(status: Int, headers: HTTPHeaders, bytes: Int64, errorBody: [UInt8]) {
        self.status = status
        self.headers = headers
        self.bytes = bytes
        self.errorBody = errorBody
    }
}

/// The outcome of `HTTPClient.download`: any HTTP status (transport failures throw instead).
public struct DownloadResult: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    /// Bytes written to the `.part` file by this transfer.
    public var bytesWritten: Int64
    /// Size of the `.part` file afterwards.
    public var fileSize: Int64
    /// The server honoured `Range` (206) and the bytes were appended to an existing prefix.
    public var resumed: Bool
    /// Lowercase hex digests of the whole `.part` file (empty unless the status is 2xx).
    public var digests: [DigestAlgorithm: String]
    /// The body of a non-2xx response (capped at 64 KiB); never written to the `.part` file.
    public var errorBody: [UInt8]
    /// The URL that answered, after redirects.
    public var effectiveURL: String
    /// The body, when it went to an unnamed file rather than the `.part` file (see `download`).
    public var unnamedFile: UnnamedFile?

    public init(status: Int, headers: HTTPHeaders, bytesWritten: Int64, fileSize: Int64, resumed: Bool,
                digests: [DigestAlgorithm: String], errorBody: [UInt8] = [], effectiveURL: String,
                unnamedFile: UnnamedFile? = nil) {
        self.status = status
        self.headers = headers
        self.bytesWritten = bytesWritten
        self.fileSize = fileSize
        self.resumed = resumed
        self.digests = digests
        self.errorBody = errorBody
        self.effectiveURL = effectiveURL
        self.unnamedFile = unnamedFile
    }

    /// Whether the status is 2xx, i.e. the `.part` file (or `unnamedFile`) holds the body.
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Settings shared by every request of one `HTTPClient`.
public struct HTTPClientConfiguration: Sendable {
    /// A PEM bundle of CA certificates to trust instead of the system's.
    public var caBundlePath: String?
    /// Skip TLS verification for requests to this URL's origin (scheme, host and port) only:
    /// a job's `tls: {insecure: true}` is for its own server, never for a host a redirect or a
    /// listed file URL leads to. Nil (the default): every certificate is verified.
    public var insecureOrigin: String?
    public var connectTimeout: Duration = .seconds(30)
    /// Stall detection: fail with `.stalled` when fewer than `lowSpeedLimit` bytes/s flow
    /// for `lowSpeedTime`. A limit of 0 disables it.
    public var lowSpeedLimit: Int = 1
    /// 45 s: a server silent that long three times over (`RetryPolicy` gives timeouts three
    /// attempts) has cost 2 min 15 s, within the 3 minutes any failure may take by default.
    public var lowSpeedTime: Duration = .seconds(45)
    /// Read credentials from `~/.netrc` (or `netrcFile`) for requests to this URL's origin
    /// (scheme, host and port) only; nil: never. curl matches a netrc entry by host name alone, so
    /// without this a redirect to another port or to plain http on the same host, or a file URL a
    /// server names there, would get the password too.
    public var netrcOrigin: String?
    public var netrcFile: String?
    /// Cap on open connections in all, and per host (0: no cap).
    public var maxConnections: Int = 64
    public var maxConnectionsPerHost: Int = 16
    public var userAgent: String = "flowctl"
    /// Curl threads (each a multi handle with its own connections); transfers go to the least
    /// busy one. The default, one per core up to 4, spreads the kernel's copy of every body into
    /// the page cache over the cores; one thread alone saturates a core on small files.
    public var curlThreads: Int = HTTPClientConfiguration.defaultCurlThreads
    /// `FLOWHTTP_THREADS` from the environment when set (for benchmarks), read once.
    public static let defaultCurlThreads: Int = {
        if let text = ProcessInfo.processInfo.environment["FLOWHTTP_THREADS"], let n = Int(text), n > 0 { return n }
        return max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
    }()
    /// An explicit proxy URL. When nil, curl honours `http_proxy`, `https_proxy`, `all_proxy`
    /// and `no_proxy` from the environment.
    public var proxy: String?
    /// Largest body `send` keeps in memory; beyond it the request fails with `.bodyTooLarge`,
    /// at once when `Content-Length` announces it. 16 MiB holds a listing of ~50,000 XNAT rows
    /// (a DICOM-heavy resource of 3,000 files is about 1 MB) and keeps a run within its 64 MiB
    /// goal even when a server sends a body without end (or a gzip bomb) as a listing.
    public var maxResponseBodySize: Int = 16 << 20
    /// Largest download of unlisted size (a LORIS file, a web folder's); larger fails.
    public var maxDownloadSize: Int64 = 64 << 30
    public var maxRedirects: Int = 10
    /// Request headers dropped when a redirect leaves the request's scheme, host and port.
    public var credentialHeaderNames: Set<String> = ["authorization", "cookie", "proxy-authorization",
                                                     "x-api-key", "x-auth-token"]

    public init() {}
}
