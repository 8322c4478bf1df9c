import FlowModel

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

    public var description: String { "\(location): \(severity.rawValue): \(message)" }

    /// The compiler-style rendering: the message, the line quoted, a caret under the column.
    public func rendered(source: SourceText?) -> String {
        var text = description
        if let line = source?.line(location.line) {
            let number = String(location.line)
            let gutter = String(repeating: " ", count: number.count)
            // The caret sits under the column, counted in characters, tabs kept so it lines up.
            let prefix = line.prefix(max(0, location.column - 1)).map { $0 == "\t" ? "\t" : " " }.joined()
            text += "\n \(number) | \(line)\n \(gutter) | \(prefix)^"
        }
        return text
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
