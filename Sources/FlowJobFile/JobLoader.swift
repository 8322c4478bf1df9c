import Foundation
import FlowModel

/// Reads job files: text checks, YAML, interpolation, the typed model, then semantic checks.
/// Every problem is collected in one pass; nothing is touched on disk or the network.
public struct JobLoader: Sendable {
    /// Environment for `${env.NAME}`.
    public var environment: [String: String]
    /// `--set path.to.key=value` overrides, applied to the YAML before it is read.
    public var overrides: [String]
    /// When true (for `validate`), an unset environment variable is a warning, not an error.
    public var tolerateUnsetEnvironment: Bool

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                overrides: [String] = [], tolerateUnsetEnvironment: Bool = false) {
        self.environment = environment
        self.overrides = overrides
        self.tolerateUnsetEnvironment = tolerateUnsetEnvironment
    }

    /// Loads a job file from disk.
    public func load(path: String) -> LoadResult {
        let location = SourceLocation(file: path, line: 1, column: 1)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return LoadResult(job: nil, diagnostics: [Diagnostic(.error, "no such file", at: location)])
        }
        if isDirectory.boolValue {
            return LoadResult(job: nil, diagnostics: [Diagnostic(.error, "is a directory, not a job file", at: location)])
        }
        // Refuse huge files before reading them whole.
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > SourceText.maxBytes {
            return load(path: path, bytes: [UInt8](repeating: 0x20, count: 0), declaredSize: size)
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return LoadResult(job: nil, diagnostics: [Diagnostic(.error, "cannot read the file (permissions?)", at: location)])
        }
        return load(path: path, bytes: [UInt8](data))
    }

    /// Loads a job file from its bytes (`path` names it in diagnostics).
    public func load(path: String, bytes: [UInt8], declaredSize: Int? = nil) -> LoadResult {
        if let declaredSize {
            return LoadResult(job: nil, diagnostics: [Diagnostic(.error,
                "file is \(Quantities.formatBytes(Int64(declaredSize))), more than a job file can be (limit "
                + "\(Quantities.formatBytes(Int64(SourceText.maxBytes)))); is this the right file?",
                at: SourceLocation(file: path, line: 1, column: 1))])
        }
        let (source, textProblems) = SourceText.decode(path: path, bytes: bytes)
        guard let source else { return LoadResult(job: nil, diagnostics: textProblems, source: nil) }
        if !textProblems.isEmpty { return LoadResult(job: nil, diagnostics: textProblems, source: source) }
        let (tree, yamlProblems) = YAMLReader.read(source)
        guard var tree else { return LoadResult(job: nil, diagnostics: yamlProblems, source: source) }
        var builder = JobBuilder(path: path, environment: environment,
                                 tolerateUnsetEnvironment: tolerateUnsetEnvironment)
        for (index, override) in overrides.enumerated() { builder.apply(override: override, index: index, to: &tree) }
        let job = builder.build(tree)
        var diagnostics = builder.diagnostics
        if let job {
            var checks = SemanticChecks(job: job, tree: tree, broken: builder.broken)
            diagnostics += checks.run()
        }
        let failed = diagnostics.contains { $0.severity == .error }
        return LoadResult(job: failed ? nil : job, diagnostics: diagnostics, source: source,
                          overrideSource: overrideSource)
    }

    /// How a `--set` is quoted in diagnostics: `--set path=value`, one per line.
    static let overridePrefix = "--set "

    /// The `--set` arguments as a text of their own, so that their diagnostics quote them.
    var overrideSource: SourceText? {
        overrides.isEmpty ? nil
            : SourceText(path: "--set", text: overrides.map { Self.overridePrefix + $0 }.joined(separator: "\n"))
    }
}
