import FlowConnector
import FlowHTTP

/// Any JSON value, decoded leniently (Agora ids are numbers, but a string id is read as well).
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

    /// Strings as they are, numbers and booleans printed; null and containers are nil.
    var text: String? {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// An integer from a number or a numeric string.
    var int: Int? {
        switch self {
        case .integer(let i): return Int(i)
        case .number(let d) where d == d.rounded(): return Int(d)
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
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

extension SourceSession {
    /// GET a path and decode it as JSON.
    func agoraJSON(_ path: String, query: [(String, String)] = []) async throws -> JSONValue {
        let text = query.map { "\($0.0)=\(URLText.query($0.1))" }.joined(separator: "&")
        let url = self.url(path) + (text.isEmpty ? "" : (path.contains("?") ? "&" : "?") + text)
        let response = try await send(HTTPRequest(url: url))
        return try SourceSession.decode(JSONValue.self, response.body, from: path)
    }

    /// Every element of an Agora list: a bare array, or DRF pages `{count,next,previous,results}`
    /// whose `next` links are followed (the connector asks for one huge page, as gtagora-connector does).
    func agoraList(_ path: String, query: [(String, String)] = []) async throws -> [JSONValue] {
        var value = try await agoraJSON(path, query: [("limit", "10000000000")] + query)
        var items: [JSONValue] = []
        var pages = 0
        while true {
            if let array = value.array { return items + array }
            guard let results = value["results"]?.array else {
                throw ConnectorError.badReply("\(path): expected a list or a page of results")
            }
            items += results
            pages += 1
            guard let next = value["next"]?.text, !next.isEmpty, pages < 10_000 else { return items }
            // Only follow links to the same server: a page must not send credentials elsewhere.
            guard next.hasPrefix(spec.url.hasSuffix("/") ? String(spec.url.dropLast()) : spec.url) else {
                throw ConnectorError.badReply("\(path): the next page is on another server (\(URLText.redacted(next)))")
            }
            let response = try await send(HTTPRequest(url: next))
            value = try SourceSession.decode(JSONValue.self, response.body, from: path)
        }
    }
}
