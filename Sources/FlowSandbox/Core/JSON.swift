import Foundation

/// A JSON value that keeps object key order (the platforms' field order) and prints ASCII-only
/// output (non-ASCII as `\uXXXX`), because some clients decode bodies as ASCII.
public indirect enum JSON: Sendable, Equatable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByNilLiteral {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null
    case array([JSON])
    case object([(String, JSON)])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(Int64(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(nilLiteral: ()) { self = .null }

    /// `nil` becomes `null`.
    public static func optional(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }

    public static func == (a: JSON, b: JSON) -> Bool { a.serialized() == b.serialized() }

    /// Compact serialization; `escapeSlashes` mimics PHP's default `json_encode` (`\/`).
    public func serialized(escapeSlashes: Bool = false) -> String {
        var out = ""
        write(into: &out, escapeSlashes: escapeSlashes)
        return out
    }

    private func write(into out: inout String, escapeSlashes: Bool) {
        switch self {
        case .string(let s): JSON.writeString(s, into: &out, escapeSlashes: escapeSlashes)
        case .int(let i): out += String(i)
        case .double(let d): out += d.isFinite ? String(d) : "null"
        case .bool(let b): out += b ? "true" : "false"
        case .null: out += "null"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out, escapeSlashes: escapeSlashes)
            }
            out += "]"
        case .object(let pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += "," }
                JSON.writeString(k, into: &out, escapeSlashes: escapeSlashes)
                out += ":"
                v.write(into: &out, escapeSlashes: escapeSlashes)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String, escapeSlashes: Bool) {
        out += "\""
        for u in s.utf16 {
            switch u {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x2F where escapeSlashes: out += "\\/"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(UInt8(u)))
            default: out += String(format: "\\u%04x", u)
            }
        }
        out += "\""
    }
}
