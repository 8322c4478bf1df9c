import CCurl

/// A transfer that failed below HTTP (an HTTP error status is a response, not an `HTTPError`).
public enum HTTPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made (refused, unreachable, DNS failure).
    case couldNotConnect(String)
    /// The connect timeout or the request's total timeout expired.
    case timedOut(String)
    /// Fewer than the low-speed limit of bytes/s flowed for the low-speed time.
    case stalled(String)
    /// TLS handshake or certificate verification failed.
    case tls(String)
    /// The calling task was cancelled, or the client shut down.
    case cancelled
    /// A response body exceeded the in-memory cap of `send`, or a download its listed size
    /// or the largest file allowed (announced by `Content-Length` or found while it streamed).
    case bodyTooLarge(limit: Int)
    /// A redirect pointed somewhere flowctl never goes (a scheme other than http/https).
    case refusedRedirect(String)
    /// A download's body came encoded (`Content-Encoding: gzip`...) although none was asked for:
    /// its bytes are not the resource's bytes.
    case unexpectedEncoding(String)
    /// The connection was cut or the body ended before its announced length.
    case partialBody(String)
    /// Reading or writing a local file failed (for example ENOSPC, disk full).
    case fileSystem(path: String, errno: Int32, message: String)
    /// The redirect chain was longer than `maxRedirects`.
    case tooManyRedirects(Int)
    /// Any other curl failure, with curl's code and message.
    case other(code: Int, message: String)

    /// Whether trying again later may succeed.
    public var isTransient: Bool {
        switch self {
        case .couldNotConnect, .timedOut, .stalled, .partialBody: true
        case .tls, .cancelled, .bodyTooLarge, .refusedRedirect, .unexpectedEncoding, .fileSystem, .tooManyRedirects, .other: false
        }
    }

    public var description: String {
        switch self {
        case .couldNotConnect(let m): "could not connect: \(m)"
        case .timedOut(let m): "timed out: \(m)"
        case .stalled(let m): "transfer stalled: \(m)"
        case .tls(let m): "TLS failure: \(m)" + Self.tlsHint(m)
        case .cancelled: "cancelled"
        case .bodyTooLarge(let limit): "the body is larger than the \(limit) bytes expected (listed size or limit)"
        case .refusedRedirect(let m): "refused redirect: \(m)"
        case .unexpectedEncoding(let m): "the server sent the body with Content-Encoding \(m), which was not asked for"
        case .partialBody(let m): "connection cut before the whole body arrived: \(m)"
        case .fileSystem(let path, let errno, let message): "\(path): \(message) (errno \(errno))"
        case .tooManyRedirects(let n): "more than \(n) redirects"
        case .other(let code, let message): "curl error \(code): \(message)"
        }
    }

    /// What to do about a TLS failure, by what OpenSSL said: a certificate no trusted authority
    /// signed, or a server that does not speak TLS on that port at all (an http:// URL written https://).
    static func tlsHint(_ message: String) -> String {
        let m = message.lowercased()
        if m.contains("wrong version number") || m.contains("packet length too long") || m.contains("http request") {
            return " (the server did not answer in TLS: is its URL http://, not https://?)"
        }
        if m.contains("expired") {
            return " (the server's certificate has expired: its administrators must renew it)"
        }
        if m.contains("subject name") || m.contains("does not match target host") {
            return " (the certificate is for another host name: write the URL with the name it was issued for)"
        }
        if m.contains("certificate") || m.contains("issuer") {
            return " (a server with a private certificate authority? name its certificate in the source's `tls: {ca: path}`)"
        }
        return ""
    }

    /// Classifies a curl result code; `message` is curl's error buffer (or its generic text).
    static func from(code: CURLcode, message: String) -> HTTPError {
        switch code {
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotConnect(message)
        case CURLE_OPERATION_TIMEDOUT:
            // curl reports both the total timeout and the low-speed limit with code 28.
            return message.hasPrefix("Operation too slow") ? .stalled(message) : .timedOut(message)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND,
             CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_CRL_BADFILE, CURLE_SSL_SHUTDOWN_FAILED:
            return .tls(message)
        case CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING,
             CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_HTTP3:
            return .partialBody(message)
        case CURLE_UNSUPPORTED_PROTOCOL:
            // curl also says this of a reply that is not HTTP at all (bytes left on a connection a
            // server cut mid-body, then reused): a broken connection, not a refused scheme.
            return message.contains("HTTP/0.9") ? .partialBody(message) : .refusedRedirect(message)
        case CURLE_ABORTED_BY_CALLBACK:
            return .cancelled
        default:
            return .other(code: Int(code.rawValue), message: message)
        }
    }
}
