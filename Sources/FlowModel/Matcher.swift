import Foundation

/// A test on one field's value: the filters of a selection are built from these.
///
/// In a job file: a string is a glob (`"SUBJ_*"`), a list means any of its members,
/// `{regex: "..."}` searches the value, `{not: ...}` negates, `{all: [...]}` needs every member,
/// and `{gt: 10MB}` / `{lt: ...}` / `{ge: ...}` / `{le: ...}` compare numbers (sizes take units).
public indirect enum Matcher: Sendable, Hashable, CustomStringConvertible {
    case glob(Glob)
    case regex(RegexPattern)
    case anyOf([Matcher])
    case allOf([Matcher])
    case not(Matcher)
    case compare(Comparison, Double)

    /// A numeric comparison operator.
    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case gt, ge, lt, le
    }

    /// Whether the value satisfies the matcher. A missing value only satisfies `not`.
    public func matches(_ value: String?) -> Bool {
        switch self {
        case .glob(let glob):
            guard let value else { return false }
            return glob.matches(value)
        case .regex(let regex):
            guard let value else { return false }
            return regex.matches(value)
        case .anyOf(let members):
            return members.contains { $0.matches(value) }
        case .allOf(let members):
            return members.allSatisfy { $0.matches(value) }
        case .not(let inner):
            return !inner.matches(value)
        case .compare(let op, let bound):
            guard let value, let number = Double(value) else { return false }
            switch op {
            case .gt: return number > bound
            case .ge: return number >= bound
            case .lt: return number < bound
            case .le: return number <= bound
            }
        }
    }

    /// The exact values this matcher accepts, when it is a plain value or a list of plain values.
    /// Connectors send these to servers as filters; anything else is filtered client-side.
    public var literalValues: [String]? {
        switch self {
        case .glob(let glob): return glob.isLiteral ? [glob.pattern] : nil
        case .anyOf(let members):
            var values: [String] = []
            for member in members {
                guard let more = member.literalValues else { return nil }
                values += more
            }
            return values
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .glob(let g): return "\"\(g.pattern)\""
        case .regex(let r): return "regex \"\(r.pattern)\""
        case .anyOf(let m): return "any of [" + m.map(\.description).joined(separator: ", ") + "]"
        case .allOf(let m): return "all of [" + m.map(\.description).joined(separator: ", ") + "]"
        case .not(let m): return "not \(m)"
        case .compare(let op, let n): return "\(op.rawValue) \(n)"
        }
    }
}

/// A compiled regular expression (ICU syntax) that searches a value; anchor with `^...$`.
public struct RegexPattern: @unchecked Sendable, Hashable {
    // NSRegularExpression is immutable and documented thread-safe, hence @unchecked.
    public let pattern: String
    private let compiled: NSRegularExpression

    /// Compiles the pattern, throwing the regex engine's message when it is invalid.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        self.compiled = try NSRegularExpression(pattern: pattern)
    }

    public func matches(_ value: String) -> Bool {
        compiled.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) != nil
    }

    public static func == (a: RegexPattern, b: RegexPattern) -> Bool { a.pattern == b.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }
}
