import Foundation
import FlowConnector

/// Any JSON value, decoded leniently: LORIS versions disagree on types (`CandID` is a string
/// today, a number in some replies; `IsPhantom` a boolean or a string), so fields are read as text.
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

    var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
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

/// The session a login runs through. The session owns the login (as its authenticator), so the
/// login holds it weakly; it is set once, right after both exist, before any request.
final class SessionRef: @unchecked Sendable {
    private let lock = NSLock()
    private weak var session: SourceSession?
    var value: SourceSession? {
        get { lock.withLock { session } }
        set { lock.withLock { session = newValue } }
    }
}
