import FlowModel

/// Every key the job language accepts, section by section. The loader checks against these
/// tables and the JSON Schema is generated from them, so the two cannot drift apart.
public enum Keys {
    public static let top = ["flowctl", "name", "description", "vars", "sources", "select", "actions", "layouts", "slurm"]
    /// Names people give the top-level sections, too far from them for a typo's suggestion.
    public static let topMisnames = ["source": "sources", "selection": "select", "selections": "select",
                                     "selects": "select", "action": "actions", "layout": "layouts",
                                     "var": "vars", "variables": "vars"]
    /// The top-level keys that hold the job's named definitions.
    public static let sections = ["sources", "select", "layouts", "actions"]
    /// `slurm:`: what `flowctl submit --slurm` and `run --shard` take when the command line does not say.
    public static let slurm = ["shards", "max-running", "partition", "time", "mem", "jobs", "shard-by"]
    public static let sourceCommon = ["type", "url", "netrc", "concurrency", "rate", "timeout", "stall", "max-file-size",
                                      "retry", "tls"]
    /// Credential keys of all platforms (each platform accepts its own, see `PlatformCatalog`).
    public static let credentials = ["user", "password", "token", "secret", "api-key"]
    /// Plain options per source type: the LORIS API flavour (`v0.0.3-dev`, `v0.0.3`,
    /// `v0.0.4-dev`); for `http`, an index file of paths to fetch instead of crawling listings;
    /// for Grand Challenge and Agora, the size of upload parts (chunks) and how long to wait for
    /// the platform to process an upload (Agora's import, Grand Challenge's image).
    public static func sourceOptions(for type: SourceType) -> [String] {
        switch type {
        case .loris: return ["api"]
        case .http: return ["index"]
        case .grandChallenge, .agora: return ["part-size", "processing-timeout"]
        default: return []
        }
    }
    public static let retry = ["attempts", "max-time"]
    public static let tls = ["ca", "insecure"]
    public static let selectionCommon = ["source"]
    public static let matcherOperators = ["regex", "not", "any", "all", "glob", "gt", "ge", "lt", "le"]
    public static let actionVerbs = ActionKind.allCases.map(\.rawValue)
    public static let actionCommon = ["to", "layout", "source", "into", "tags", "over", "input", "wait", "extras",
                                      "overwrite", "after", "convert", "archive"]
    public static let convert = ["tool", "concurrency"]
    public static let archive = ["format", "per", "max-members", "max-bytes", "max-ratio"]
    public static let wait = ["timeout", "poll"]
    public static let layout = ["path", "maps"]
    public static let downloadExtras = ["qc", "visit-metadata"]
    public static let intoKeys = ["project", "subject", "experiment", "scan", "resource", "folder", "archive",
                                  "reader-study", "candidate", "visit", "path"]

    /// Earlier names of keys, still read (with a warning) so that old job files run as they did.
    /// `on:` was `over:`: YAML 1.1 readers (PyYAML, the JSON Schema check) take a bare `on` for `true`.
    public static let renamedActionKeys = ["on": "over"]

    /// The keys an action of a given kind may use, besides its verb.
    public static func actionKeys(for kind: ActionKind) -> [String] {
        switch kind {
        case .download: return ["to", "layout", "source", "extras", "convert", "archive", "after"]
        case .upload: return ["to", "source", "into", "overwrite", "after"]
        case .tag: return ["source", "tags", "after"]
        case .runAlgorithm, .runTask: return ["source", "over", "input", "wait", "after"]
        }
    }
}
