/// A shell-style wildcard pattern: `*` any run of characters, `?` one character,
/// `[abc]`, `[a-z]`, `[!abc]` character classes, `\x` a literal x. Matches the whole value.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let tokens: [Token]
    /// The tokens as bytes, when every literal is printable ASCII (most patterns): matching a
    /// printable ASCII value then compares bytes, never `Character`s.
    private let byteTokens: [ByteToken]?

    private enum ByteToken: Sendable, Hashable {
        case literal(UInt8)
        case anyOne
        case anyRun
        /// A class: matched through its `Character` form.
        case other(Token)
    }

    private enum Token: Sendable, Hashable {
        case literal(Character)
        case anyOne
        case anyRun
        case set([ClosedRange<Character>], negated: Bool)
    }

    public init(_ pattern: String) {
        self.pattern = pattern
        self.tokens = Glob.tokenize(pattern)
        self.byteTokens = Glob.byteTokens(tokens)
    }

    private static func byteTokens(_ tokens: [Token]) -> [ByteToken]? {
        var bytes: [ByteToken] = []
        for token in tokens {
            switch token {
            case .literal(let l):
                guard let ascii = l.asciiValue, ascii >= 0x20, ascii < 0x7F else { return nil }
                bytes.append(.literal(ascii))
            case .anyOne: bytes.append(.anyOne)
            case .anyRun: bytes.append(.anyRun)
            case .set: bytes.append(.other(token))
            }
        }
        return bytes
    }

    public var description: String { pattern }

    // The tokens follow from the pattern: equal and hashed by it alone.
    public static func == (a: Glob, b: Glob) -> Bool { a.pattern == b.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    /// True when the pattern has no wildcard, so it can be sent to a server as an exact filter.
    public var isLiteral: Bool {
        tokens.allSatisfy { if case .literal = $0 { return true } else { return false } }
    }

    /// Whether `value` matches the whole pattern.
    public func matches(_ value: String) -> Bool {
        // Printable ASCII (most names): a byte is a character, and splitting into characters costs.
        if FileName.isPrintableASCII(value) {
            let matched = value.utf8.withContiguousStorageIfAvailable { bytes in
                if let byteTokens { return Glob.match(bytes, byteTokens) }
                return match(bytes) { token, byte in Glob.single(token, byte: byte) }
            }
            if let matched { return matched }
        }
        return matchesByCharacter(value)
    }

    /// `matches` for any value, character by character.
    func matchesByCharacter(_ value: String) -> Bool {
        match(Array(value)) { token, character in Glob.single(token, character) }
    }

    /// Classic iterative wildcard matching with one backtrack point for the last `*`.
    private func match<Value: RandomAccessCollection>(_ chars: Value, single: (Token, Value.Element) -> Bool) -> Bool
    where Value.Index == Int {
        var t = 0, c = chars.startIndex
        var starToken = -1, starChar = 0
        while c < chars.endIndex {
            if t < tokens.count, tokens[t] != .anyRun, single(tokens[t], chars[c]) {
                t += 1; c += 1
            } else if t < tokens.count, tokens[t] == .anyRun {
                starToken = t; starChar = c; t += 1
            } else if starToken >= 0 {
                t = starToken + 1; starChar += 1; c = starChar
            } else {
                return false
            }
        }
        while t < tokens.count, tokens[t] == .anyRun { t += 1 }
        return t == tokens.count
    }

    /// `match` on bytes with byte tokens (the same walk, one backtrack point for the last `*`).
    private static func match(_ chars: UnsafeBufferPointer<UInt8>, _ tokens: [ByteToken]) -> Bool {
        var t = 0, c = 0
        var starToken = -1, starChar = 0
        while c < chars.count {
            if t < tokens.count {
                let matched: Bool
                switch tokens[t] {
                case .anyRun:
                    starToken = t; starChar = c; t += 1
                    continue
                case .literal(let byte): matched = byte == chars[c]
                case .anyOne: matched = true
                case .other(let token): matched = single(token, Character(Unicode.Scalar(chars[c])))
                }
                if matched {
                    t += 1; c += 1
                    continue
                }
            }
            guard starToken >= 0 else { return false }
            t = starToken + 1; starChar += 1; c = starChar
        }
        while t < tokens.count, tokens[t] == .anyRun { t += 1 }
        return t == tokens.count
    }

    /// `single` for one byte of printable ASCII, without making it a `Character` for literals.
    private static func single(_ token: Token, byte: UInt8) -> Bool {
        if case .literal(let l) = token { return l.asciiValue == byte }
        return single(token, Character(Unicode.Scalar(byte)))
    }

    private static func single(_ token: Token, _ ch: Character) -> Bool {
        switch token {
        case .literal(let l): return l == ch
        case .anyOne: return true
        case .anyRun: return true
        case .set(let ranges, let negated):
            return ranges.contains { $0.contains(ch) } != negated
        }
    }

    private static func tokenize(_ pattern: String) -> [Token] {
        var tokens: [Token] = []
        var chars = Array(pattern)[...]
        while let ch = chars.popFirst() {
            switch ch {
            case "*":
                if tokens.last != .anyRun { tokens.append(.anyRun) }
            case "?":
                tokens.append(.anyOne)
            case "\\":
                tokens.append(.literal(chars.popFirst() ?? "\\"))
            case "[":
                // Find the closing bracket; a `]` first in the set is literal.
                let body = Array(chars)
                var i = 0
                var negated = false
                if i < body.count, body[i] == "!" || body[i] == "^" { negated = true; i += 1 }
                var ranges: [ClosedRange<Character>] = []
                var first = true
                var closed = false
                while i < body.count {
                    let c = body[i]
                    if c == "]" && !first { closed = true; break }
                    first = false
                    if i + 2 < body.count, body[i + 1] == "-", body[i + 2] != "]", c <= body[i + 2] {
                        ranges.append(c...body[i + 2]); i += 3
                    } else {
                        ranges.append(c...c); i += 1
                    }
                }
                if closed {
                    tokens.append(.set(ranges, negated: negated))
                    chars = chars.dropFirst(i + 1)
                } else {
                    tokens.append(.literal("["))
                }
            default:
                tokens.append(.literal(ch))
            }
        }
        return tokens
    }
}
