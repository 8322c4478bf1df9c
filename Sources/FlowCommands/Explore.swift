import ArgumentParser
import Foundation
import FlowConnector
import FlowJobFile
import FlowModel

/// Look at a source before selecting from it: the distinct values of every field a selection
/// can filter on, with counts and sizes.
struct Explore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look at a source before selecting from it: its levels and the values of their fields.",
        discussion: """
            Lists the source (through its connector, with the source's concurrency, rate and retry \
            settings; nothing is downloaded) and summarises, level by level, the distinct values of \
            the fields a selection filters on, with counts and sizes:

              flowctl explore jobs/xnat-dwi.yml xnat
              flowctl explore jobs/xnat-dwi.yml xnat --where subjects='SUBJ_00*' --depth 4
              flowctl explore --type xnat --url https://xnat.example.org \\
                  --credential user=alice --credential 'password-command=pass show xnat'

            From a job file, the source's top level (project, archive) is narrowed as the job's \
            selections narrow it, unless --where names that level.
            """)

    @Argument(help: "A job file whose source to explore (or give --type and --url).",
              completion: .file(extensions: ["yml", "yaml"]))
    var job: String?

    @Argument(help: "The source's name in the job (default: its only remote source).")
    var source: String?

    @Option(help: "Without a job file: the source type (xnat, loris, grand-challenge, agora, local, http).")
    var type: String?

    @Option(help: "Without a job file: the source's URL (a folder for local).")
    var url: String?

    @Option(help: ArgumentHelp("Without a job file: a source setting, e.g. user=alice, token=${env.GC_TOKEN}, "
                               + "password-command=pass show xnat, tls.ca=ca.pem (repeatable).", valueName: "key=value"))
    var credential: [String] = []

    @Option(name: .customLong("set"), help: ArgumentHelp("Override a job-file value (repeatable).", valueName: "path=value"))
    var overrides: [String] = []

    @Option(help: ArgumentHelp("Only items whose level matches a glob, e.g. project=testenv, scans=DWI* (repeatable).",
                               valueName: "level=glob"))
    var `where`: [String] = []

    @Option(help: "Summarise the first N levels only (project, subjects, ...).")
    var depth: Int?

    @Option(help: "Values shown per field in the text form.")
    var limit = 8

    @Option(help: "Output format: text or json (every value).")
    var format: ReportFormat = .text

    func validate() throws {
        if job == nil && (type == nil || url == nil) {
            throw ValidationError("give a job file and a source name, or --type and --url")
        }
        if job != nil && (type != nil || url != nil) {
            throw ValidationError("--type and --url describe a source without a job file; with a job file, name its source")
        }
        if let depth, depth < 1 { throw ValidationError("--depth must be at least 1") }
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        let session = try open()
        let spec = try chosenSource(session.job)
        let catalog = PlatformCatalog.of(spec.type)
        let selection = try selection(for: spec, in: session.job, catalog: catalog)
        let connector = session.connectors[spec.name]!
        let (items, problems) = try await ListingProblems.collecting { try await connector.list(selection) }
        for problem in problems { Console.error("error: not listed: \(problem)") }
        let summary = SourceSummary(items: items, catalog: catalog, depth: depth)
        switch format {
        case .text: print(summary.text(source: spec.name, limit: limit), terminator: "")
        case .json: print(summary.json(source: spec.name, type: spec.type), terminator: "")
        }
        // Figures that leave out a failed branch are a partial answer: exit 1, as `plan` does.
        if !problems.isEmpty {
            Console.error("error: \(problems.count) part(s) of the listing failed (named above); the figures leave them out")
            throw ExitCode(1)
        }
        if items.isEmpty {
            Console.error("warning: `\(spec.name)` lists nothing here" + (self.where.isEmpty ? "" : " (check --where)"))
        }
    }

    /// The job file's session, or one made from --type, --url and --credential.
    private func open() throws -> JobSession {
        if let job { return try JobSession.open(try JobOptions.parse([job] + overrides.flatMap { ["--set", $0] })) }
        // A job of one source, read by the same loader (so settings are checked, `${env...}`
        // interpolated and `password-command` run as in any job file).
        let name = "explored"
        let text = "flowctl: 1\nname: explore\nsources:\n  \(name):\n    type: \"\(type!)\"\n    url: \"\(url!)\"\n"
        let settings = credential.map { "sources.\(name).\($0)" }
        var result = JobLoader(overrides: settings + overrides).load(path: "<flags>", bytes: Array(text.utf8))
        // Warnings are about job files (no actions, a user name written out): not about flags.
        result.diagnostics = result.errors
        return try JobSession.open(result, path: FileManager.default.currentDirectoryPath + "/<flags>")
    }

    private func chosenSource(_ job: Job) throws -> SourceSpec {
        if let source {
            guard let spec = job.source(named: source) else {
                let hint = Suggest.nearest(source, in: job.sources.map(\.name)).map { "; did you mean `\($0)`?" } ?? ""
                throw ValidationError("no source `\(source)` in \(self.job ?? "the job")\(hint) (it has: "
                    + job.sources.map { "`\($0.name)`" }.joined(separator: ", ") + ")")
            }
            return spec
        }
        let remote = job.sources.filter { $0.type != .local }
        let candidates = remote.isEmpty ? job.sources : remote
        guard candidates.count == 1 else {
            throw ValidationError("\(self.job ?? "the job") has several sources; name one: "
                + candidates.map(\.name).joined(separator: ", "))
        }
        return candidates[0]
    }

    /// Everything below the top level; the top level as --where or the job's selections say.
    private func selection(for spec: SourceSpec, in job: Job, catalog: PlatformCatalog) throws -> Selection {
        var filters: [Selection.Filter] = []
        for clause in self.where {
            guard let eq = clause.firstIndex(of: "="), let level = catalog.level(named: String(clause[..<eq])) else {
                throw ValidationError("--where \(clause): name a level of \(spec.type.rawValue) ("
                    + catalog.levels.map(\.key).joined(separator: ", ") + ") and a glob, e.g. \(catalog.levels[0].key)=*")
            }
            filters.append(.init(level: level.key, field: level.entity + "." + level.defaultField,
                                 matcher: .glob(Glob(String(clause[clause.index(after: eq)...])))))
        }
        let top = catalog.levels[0].key
        if !filters.contains(where: { $0.level == top }) {
            let fromJob = job.selections.filter { $0.source == spec.name }.flatMap { $0.filters.filter { $0.level == top } }
            if let first = fromJob.first {
                let matchers = Array(Set(fromJob.map(\.matcher)))
                filters.append(.init(level: top, field: first.field, matcher: matchers.count == 1 ? matchers[0] : .anyOf(matchers)))
            } else if spec.type == .grandChallenge || spec.type == .agora {
                // Their listings start from the archives or projects a selection names.
                filters.append(.init(level: top, field: catalog.levels[0].entity + "." + catalog.levels[0].defaultField,
                                     matcher: .glob(Glob("*"))))
            }
        }
        return Selection(name: "explore", source: spec.name, filters: filters)
    }
}
