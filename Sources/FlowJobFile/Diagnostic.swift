import FlowModel
import Foundation

/// One problem found in a job file, with its place and an optional hint.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable { case error, warning }

    public var severity: Severity
    public var message: String
    public var location: SourceLocation

    public init(_ severity: Severity, _ message: String, at location: SourceLocation) {
        self.severity = severity
        self.message = message
        self.location = location
    }

    public var description: String { "\(location): \(severity.rawValue): \(URLCredentials.masked(message))" }

    /// The compiler-style rendering: the message, the line quoted, a caret under the column.
    /// A credential in the quoted line is shown as `***` (see `masked`).
    public func rendered(source: SourceText?) -> String {
        var text = description
        if let line = source?.line(location.line).map(Self.masked) {
            let number = String(location.line)
            let gutter = String(repeating: " ", count: number.count)
            // The caret sits under the column, counted in characters, tabs kept so it lines up.
            let prefix = line.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            text += "\n \(number) | \(line)\n \(gutter) | \(prefix)^"
        }
        return text
    }
}

extension Diagnostic {
    /// Keys whose values are secrets (`user` is not).
    static let secretKeys = Keys.credentials.filter { $0 != "user" }

    /// A job-file or `--set` line as it may be printed: the value of a credential key
    /// (`password: ...`, `"token": ...`, `--set sources.x.api-key=...`) and any URL's
    /// `user:password@` shown as `***`. Works on the text alone, so a line that does not parse
    /// (an unterminated quote) is masked too; the value's column, where a caret points, is kept.
    static func masked(_ line: String) -> String {
        var line = URLCredentials.masked(line)
        let keys = secretKeys.joined(separator: "|")
        // YAML, block or flow: the key (quoted or not) after the line's start, `{`, `,` or `- `.
        let yaml = try! Regex("(?:^|[\\s{,])[\"']?(?:\(keys))[\"']?\\s*:[ \t]+(?=\\S)")
        // `--set a.b.password=value`.
        let set = try! Regex("(?:^|[.\\s])(?:\(keys))=(?=.)")
        for pattern in [yaml, set] {
            guard let match = line.firstMatch(of: pattern) else { continue }
            // `${env.NAME}` alone names where the secret is, not the secret: kept for the reader.
            let value = line[match.range.upperBound...].trimmingCharacters(in: .whitespaces)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            if value.hasPrefix("${"), value.firstIndex(of: "}") == value.index(before: value.endIndex) { continue }
            line = String(line[..<match.range.upperBound]) + "***"
        }
        return line
    }
}

/// The outcome of loading a job file: the job when there were no errors, and every diagnostic.
public struct LoadResult: Sendable {
    public var job: Job?
    public var diagnostics: [Diagnostic]
    public var source: SourceText?
    /// The `--set` arguments, quoted by the diagnostics that point into them.
    public var overrideSource: SourceText?

    public init(job: Job?, diagnostics: [Diagnostic], source: SourceText? = nil, overrideSource: SourceText? = nil) {
        self.job = job; self.diagnostics = diagnostics; self.source = source; self.overrideSource = overrideSource
    }

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }

    /// All diagnostics rendered for a terminal, in file order.
    public func rendered() -> String {
        diagnostics
            .sorted { ($0.location.file == "--set" ? 0 : 1, $0.location.line, $0.location.column)
                    < ($1.location.file == "--set" ? 0 : 1, $1.location.line, $1.location.column) }
            .map { $0.rendered(source: $0.location.file == "--set" ? overrideSource : source) }
            .joined(separator: "\n")
    }
}
