import Foundation
import Hummingbird
import NIOCore
import HTTPTypes

/// Route template and kind a platform reports for a request (stats); a reference so the
/// platform's handler can fill it in while the core reads it afterwards.
final class RouteInfo: @unchecked Sendable {
    // Written once by the handling task, read by the same task after the handler returns.
    var template: String = "unmatched"
    var kind: RouteKind = .other
    /// Set when a streamed body counts its own bytes (file downloads, archives).
    var countsOwnBytes = false
}

/// One request as platforms see it: the Hummingbird request plus parsed path, query and helpers.
public struct SandboxRequest: Sendable {
    /// The underlying request (headers, body stream).
    public let request: Request
    public var method: HTTPRequest.Method { request.method }
    public var headers: HTTPFields { request.headers }
    /// Percent-decoded path segments, empty ones dropped (`//a/b/` -> `["a","b"]`).
    public let segments: [String]
    /// The raw path, without query.
    public let path: String
    /// Query parameters, percent-decoded; repeated keys keep the last value.
    public let query: [String: String]
    /// Query parameters in order, for the ones where order matters.
    public let queryItems: [(String, String)]
    /// Origin the client used (`http://127.0.0.1:PORT`).
    public let origin: String
    let routeInfo: RouteInfo
    let faults: RequestFaults
    let platform: PlatformID
    let stats: StatsRecorder
    /// The live fault plan, for faults that last until cleared (a stalled upload).
    let faultPlan: FaultController

    init(request: Request, origin: String, routeInfo: RouteInfo, faults: RequestFaults, faultPlan: FaultController,
         platform: PlatformID, stats: StatsRecorder) {
        self.request = request
        self.faultPlan = faultPlan
        self.origin = origin
        self.routeInfo = routeInfo
        self.faults = faults
        self.platform = platform
        self.stats = stats
        let rawPath = request.uri.path
        self.path = rawPath
        self.segments = rawPath.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncoding ?? String($0) }
        let items = SandboxRequest.parseQuery(request.uri.query ?? "")
        self.queryItems = items
        var q: [String: String] = [:]
        for (k, v) in items { q[k] = v }
        self.query = q
    }

    /// Records the route template (e.g. `GET /data/projects/{project}`) and its kind for stats.
    public func route(_ template: String, _ kind: RouteKind = .other) {
        routeInfo.template = "\(method.rawValue) \(template)"
        routeInfo.kind = kind
    }

    /// Collects the request body (uploads); counts the bytes received.
    public func body(maxSize: Int = 4 << 30) async throws -> ByteBuffer {
        var buffer = try await request.body.collect(upTo: maxSize)
        try await received(buffer.readableBytes)
        buffer.moveReaderIndex(to: buffer.readerIndex)
        return buffer
    }

    /// Counts `n` upload body bytes. Once the platform has received `stallUploadsAfterBytes`,
    /// stops reading (the client's send stalls) until that fault is cleared.
    func received(_ n: Int) async throws {
        let total = stats.bytesReceived(platform, n)
        guard let stall = faultPlan.settings(for: platform).stallUploadsAfterBytes, total >= stall else { return }
        stats.fault(platform, "stall")
        while let stall = faultPlan.settings(for: platform).stallUploadsAfterBytes, total >= stall {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Case-insensitive header lookup.
    public func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// Decodes `application/x-www-form-urlencoded` text.
    public static func parseQuery(_ text: String) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func dec(_ s: Substring) -> String {
                let plus = s.replacingOccurrences(of: "+", with: " ")
                return plus.removingPercentEncoding ?? plus
            }
            return (dec(parts[0]), parts.count > 1 ? dec(parts[1]) : "")
        }
    }

    /// HTTP basic credentials, if any.
    public var basicCredentials: (user: String, password: String)? {
        guard let auth = header("Authorization"), auth.lowercased().hasPrefix("basic "),
              let data = Data(base64Encoded: String(auth.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
              let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// Value of one cookie.
    public func cookie(_ name: String) -> String? {
        for field in headers[values: .cookie] {
            for part in field.split(separator: ";") {
                let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0] == name { return String(kv[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
            }
        }
        return nil
    }
}

/// Small response builders shared by the platforms.
public enum Reply {
    /// A body with an exact content type (no `; charset=` added).
    public static func bytes(_ status: HTTPResponse.Status, contentType: String?, _ body: ByteBuffer, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        if let contentType { headers[.contentType] = contentType }
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    public static func text(_ status: HTTPResponse.Status, _ text: String, contentType: String? = "text/plain", headers: HTTPFields = [:]) -> Response {
        bytes(status, contentType: contentType, ByteBuffer(string: text), headers: headers)
    }

    public static func json(_ status: HTTPResponse.Status, _ value: JSON, contentType: String = "application/json",
                            escapeSlashes: Bool = false, headers: HTTPFields = [:]) -> Response {
        text(status, value.serialized(escapeSlashes: escapeSlashes), contentType: contentType, headers: headers)
    }

    public static func encodable<T: Encodable>(_ status: HTTPResponse.Status, _ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return bytes(status, contentType: "application/json", ByteBuffer(bytes: data))
    }
}

/// RFC 7231 dates (`Tue, 01 Oct 2024 10:00:00 GMT`), without a shared DateFormatter.
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func format(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        return days[Int(tm.tm_wday)] + String(format: ", %02d ", tm.tm_mday) + months[Int(tm.tm_mon)]
            + String(format: " %04d %02d:%02d:%02d GMT", Int(tm.tm_year) + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec)
    }

    /// ISO date `YYYY-MM-DD` in UTC.
    static func isoDay(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d", Int(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday)
    }

    /// `YYYY-MM-DD HH:MM:SS.0` as XNAT prints insert dates.
    static func xnatTimestamp(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d.0", Int(tm.tm_year) + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec)
    }
}
