/// Any JSON value, decoded leniently: platforms disagree on types (XNAT cells are strings,
/// LORIS `CandID` is a string or a number, Agora ids are numbers), so fields are read as text.
public enum JSONValue: Decodable, Sendable {
    case string(String)
    case integer(Int64)
    case number(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([String: JSONValue])
    case null

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // Strings first: most cells are strings, and each type tried in vain before the right
        // one throws a DecodingError with its coding path (3 per XNAT cell when strings came
        // fourth: most of a large listing's decoding time). A JSON string decodes as nothing
        // else, nor anything else as a String, so the order changes no value.
        if c.decodeNil() { self = .null }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// The member at `key` of an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The value as text: strings as they are, numbers and booleans printed, null and containers nil.
    public var text: String? {
        switch self {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
        case .bool(let b): return b ? "true" : "false"
        default: return nil
        }
    }

    /// An integer from a number or a numeric string.
    public var int: Int? {
        switch self {
        case .integer(let i): return Int(i)
        case .number(let d): return Int(exactly: d)  // nil past Int's range (a size of 1.8e20), not a trap
        case .string(let s): return Int(s)
        default: return nil
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var object: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }
}
