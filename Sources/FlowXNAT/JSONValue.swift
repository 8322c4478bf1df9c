import FlowConnector
import FlowHTTP

/// Any JSON value, decoded leniently: XNAT cells are strings in every documented reply, but a
/// number or null in their place is accepted and read back as text.
enum JSONValue: Decodable, Sendable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The value as text: strings as they are, numbers and booleans printed, null and containers nil.
    var text: String? {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

extension SourceSession {
    /// GETs an XNAT table listing (`{"ResultSet":{"Result":[...]}}`) and returns its rows.
    func xnatRows(_ path: String, query: [(String, String)]) async throws -> [JSONValue] {
        var q = [("format", "json")] + query
        q.sort { $0.0 < $1.0 }
        let text = q.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let response = try await request(HTTPRequest(url: url(path) + "?" + text))
        return try XNATReply.rows(response.body, from: path)
    }
}

/// Reading XNAT replies.
enum XNATReply {
    /// The rows of a ResultSet body, or a clear `badReply` when the body is something else.
    static func rows(_ body: [UInt8], from path: String) throws -> [JSONValue] {
        if body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "<") {
            // A 200 with an HTML page is XNAT's login page or an error page (xnatpy treats it the same).
            throw ConnectorError.badReply("\(path): XNAT answered an HTML page instead of JSON: \"\(SourceSession.summary(of: body, limit: 160))\"")
        }
        let value = try SourceSession.decode(JSONValue.self, body, from: path)
        guard let rows = value["ResultSet"]?["Result"]?.array else {
            throw ConnectorError.badReply("\(path): no ResultSet.Result array in the reply; body starts \"\(SourceSession.summary(of: body, limit: 120))\"")
        }
        return rows
    }

    /// A query value for an XNAT field filter (comma = OR), or nil when the values cannot be
    /// sent exactly: XNAT reads `*`/`%` as wildcards and `,` as a separator.
    static func filterValue(_ values: [String]?) -> String? {
        guard let values, !values.isEmpty else { return nil }
        guard values.allSatisfy({ v in !v.isEmpty && !v.contains(where: { ",%*\\".contains($0) }) }) else { return nil }
        return values.map(URLText.query).joined(separator: ",")
    }

    /// Percent-encodes characters a URL cannot carry (space, quotes, non-ASCII...) in a path the
    /// server gave us, leaving its slashes and any existing escapes alone.
    static func encodePath(_ path: String) -> String {
        var out = ""
        for byte in path.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || "-._~!$&'()*+,;=:@/%".contains(c)) { out.append(c) }
            else { out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true) }
        }
        return out
    }
}

/// Runs `body` on every element concurrently and concatenates the results in input order.
/// The source session's semaphore bounds how many requests are actually in flight.
func concurrentFlatMap<T: Sendable, R: Sendable>(_ items: [T], _ body: @escaping @Sendable (T) async throws -> [R]) async throws -> [R] {
    try await withThrowingTaskGroup(of: (Int, [R]).self) { group in
        for (index, item) in items.enumerated() {
            group.addTask { (index, try await body(item)) }
        }
        var parts = [[R]](repeating: [], count: items.count)
        for try await (index, result) in group { parts[index] = result }
        return parts.flatMap { $0 }
    }
}
