import Foundation
import Hummingbird
import NIOCore

/// A file as a platform serves it: body plus the headers that platform sends.
public struct ServedFile: Sendable {
    public var body: FileBody
    public var contentType: String
    /// Full `Content-Disposition` value, or nil for none.
    public var contentDisposition: String?
    /// Full `ETag` value as the platform prints it (quoted or not), or nil for none.
    public var etag: String?
    public var lastModified: Date?
    public var extraHeaders: HTTPFields
    /// Whether `If-None-Match` can answer 304.
    public var conditional: Bool

    public init(body: FileBody, contentType: String, contentDisposition: String? = nil, etag: String? = nil,
                lastModified: Date? = nil, extraHeaders: HTTPFields = [:], conditional: Bool = true) {
        self.body = body; self.contentType = contentType; self.contentDisposition = contentDisposition
        self.etag = etag; self.lastModified = lastModified; self.extraHeaders = extraHeaders; self.conditional = conditional
    }
}

/// Thrown inside a body writer to close the connection mid-body (cut and truncate faults).
struct InjectedConnectionCut: Error {}

/// Serves `ServedFile`s: HEAD, Range (206/416) and If-Range, If-None-Match (304), chunked streaming with
/// backpressure, and the body faults (cut, truncate, slow).
public enum FileServer {
    static let chunkSize = 64 * 1024

    /// The response for a GET or HEAD of `file`.
    public static func serve(_ req: SandboxRequest, _ file: ServedFile) -> Response {
        let size = file.body.size
        var headers = file.extraHeaders
        headers[.acceptRanges] = "bytes"
        if let etag = file.etag { headers[.eTag] = etag }
        if let lm = file.lastModified { headers[.lastModified] = HTTPDate.format(lm) }
        if let cd = file.contentDisposition { headers[.contentDisposition] = cd }

        if file.conditional, let etag = file.etag, let inm = req.header("If-None-Match"), matches(inm, etag) {
            return Response(status: .notModified, headers: headers)
        }

        var start: Int64 = 0
        var length = size
        var status = HTTPResponse.Status.ok
        if let range = req.header("Range"), ifRangeHolds(req.header("If-Range"), for: file) {
            switch parseRange(range, size: size) {
            case .none: break
            case .unsatisfiable:
                var h = headers
                h[.contentRange] = "bytes */\(size)"
                h[.contentType] = "text/plain"
                return Reply.text(.rangeNotSatisfiable, "Requested range not satisfiable", headers: h)
            case .range(let a, let b):
                start = a; length = b - a + 1; status = .partialContent
                headers[.contentRange] = "bytes \(a)-\(b)/\(size)"
            }
        }
        headers[.contentType] = file.contentType
        headers[.contentLength] = String(length)
        if req.method == .head {
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        return Response(status: status, headers: headers,
                        body: stream(file.body, from: start, length: length, req: req, countsAsWhole: status == .ok))
    }

    /// `If-Range` (RFC 9110, 13.1.5), as Tomcat and nginx apply it: the range is served only while
    /// the client's validator is the file's current one (a strong entity tag compared strongly,
    /// or the exact `Last-Modified` date); otherwise the whole file comes, with 200.
    static func ifRangeHolds(_ validator: String?, for file: ServedFile) -> Bool {
        guard let validator else { return true }
        if validator.hasPrefix("\"") || validator.hasPrefix("W/") {
            return !validator.hasPrefix("W/") && validator == file.etag
        }
        return file.lastModified.map(HTTPDate.format) == validator
    }

    /// A streaming body of `length` bytes from `start`, applying the request's body faults.
    /// `countsAsWhole`: a 200 whose every byte was written counts as the file fetched whole (an
    /// answer cut before its end, by a fault or a client that went away, does not).
    public static func stream(_ body: FileBody, from start: Int64, length: Int64, req: SandboxRequest,
                              countsAsWhole: Bool = false) -> ResponseBody {
        let faults = req.faults
        let stats = req.stats
        let platform = req.platform
        let path = req.path
        var stopAfter: Int64? = faults.stopAfterBytes
        if faults.stopReason == "truncate" { stopAfter = Int64(Double(length) * faults.truncatePoint) }
        let finalStop = stopAfter.map { min($0, length) }
        let bps = faults.bytesPerSecond
        req.routeInfo.countsOwnBytes = true
        return ResponseBody(contentLength: Int(length)) { writer in
            var sent: Int64 = 0
            let limit = finalStop ?? length
            let chunk = bps.map { max(1024, min(chunkSize, $0 / 10)) } ?? chunkSize
            while sent < limit {
                let n = Int(min(Int64(chunk), limit - sent))
                let buffer = body.chunk(offset: start + sent, length: n)
                try await writer.write(buffer)
                stats.fileBytesServed(platform, n)
                sent += Int64(n)
                if let bps, bps > 0 {
                    try await Task.sleep(nanoseconds: UInt64(Double(n) / Double(bps) * 1e9))
                }
            }
            if finalStop != nil, let reason = faults.stopReason, sent < length {
                stats.fault(platform, reason)
                throw InjectedConnectionCut()
            }
            try await writer.finish(nil)
            if countsAsWhole { stats.wholeFileAnswer(platform, path: path) }
        }
    }

    enum ParsedRange: Equatable { case none, unsatisfiable, range(Int64, Int64) }

    /// Single byte ranges (`bytes=a-b`, `a-`, `-n`); several ranges are answered with the whole body.
    static func parseRange(_ header: String, size: Int64) -> ParsedRange {
        let h = header.trimmingCharacters(in: .whitespaces)
        guard h.lowercased().hasPrefix("bytes=") else { return .none }
        let spec = h.dropFirst(6)
        if spec.contains(",") { return .none }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2 else { return .none }
        if parts[0].isEmpty {
            guard let n = Int64(parts[1]), n > 0 else { return n0(parts[1]) }
            if size == 0 { return .unsatisfiable }
            return .range(max(0, size - n), size - 1)
        }
        guard let a = Int64(parts[0]) else { return .none }
        if a >= size { return .unsatisfiable }
        if parts[1].isEmpty { return .range(a, size - 1) }
        guard let b = Int64(parts[1]), b >= a else { return .none }
        return .range(a, min(b, size - 1))
    }

    private static func n0(_ s: String) -> ParsedRange { Int64(s) == 0 ? .unsatisfiable : .none }

    static func matches(_ ifNoneMatch: String, _ etag: String) -> Bool {
        func norm(_ s: Substring) -> String {
            var t = s.trimmingCharacters(in: .whitespaces)
            if t.hasPrefix("W/") { t.removeFirst(2) }
            return t.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let target = norm(Substring(etag))
        return ifNoneMatch.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == "*" || norm($0) == target }
    }
}
